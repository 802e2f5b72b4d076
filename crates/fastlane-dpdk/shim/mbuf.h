/* What bindgen reads: the mbuf layout the hot path accesses directly. */
#include <rte_mbuf_core.h>
