//! The writer's side in Rust: publishes whole sessions by the protocol of the crate docs, for
//! Rust control planes, tests and benchmarks. (The UPF's own writer is the TypeScript
//! `UpfSessions`, which follows the same protocol over the same records.)

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;

use fastlane_shm::{Cells, Region, ShmError, Table};

use crate::layout::{self, Capacities};
use crate::records::*;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    NoResources(String),
    #[error("{kind} {id}: {message}")]
    Rule {
        kind: &'static str,
        id: u32,
        message: String,
    },
    #[error("no session {0:#x}")]
    NotFound(u64),
    #[error(transparent)]
    Shm(#[from] ShmError),
}

/// A whole session as the writer takes it. `pdrs[i].hot.far`, `.qers`, `.urrs`, `.next`,
/// `.qer_count`, `.urr_count`, cells and `UrrRecord::limits` thresholds are filled in by the
/// writer from the ids: give `far_id`, and the ids in `qers[..qer_count]` / `urrs[..urr_count]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub bar: Option<(u8, Option<u16>)>,
    pub pdrs: Vec<PdrRecord>,
    pub fars: Vec<FarRecord>,
    pub qers: Vec<QerRecord>,
    pub urrs: Vec<UrrRecord>,
}

#[derive(Debug, Clone)]
struct Live {
    slot: u32,
    generation: u32,
    rules: Rules,
    keys: Vec<MatchKey>,
}

/// The tables' writer: holds every table's writer lock from the first change on.
#[derive(Debug)]
pub struct Writer {
    caps: Capacities,
    sessions_table: Table,
    index: Table,
    pdrs: Table,
    fars: Table,
    qers: Table,
    urrs: Table,
    session_state: Cells,
    qer_state: Cells,
    urr_state: Cells,
    live: HashMap<u64, Live>,
    owners: HashMap<MatchKey, u64>,
    free_slots: Vec<u32>,
    /// Free cells, oldest freed first (each is zeroed when taken).
    free_qer_cells: VecDeque<u32>,
    free_urr_cells: VecDeque<u32>,
    totals: [usize; 4],
}

/// The keys a PDR is found by.
pub fn pdr_keys(pdr: &PdrRecord) -> Vec<MatchKey> {
    let hot = &pdr.hot;
    if hot.flags & PDR_HAS_LOCAL_FTEID != 0 {
        return vec![MatchKey::teid(pdr.local_fteid.teid)];
    }
    let mut keys = Vec::new();
    if hot.flags & PDR_UE_IPV4 != 0 {
        keys.push(MatchKey::ue_ipv4(pdr.ue_ipv4));
    }
    if hot.flags & PDR_UE_IPV6 != 0 {
        keys.push(MatchKey::ue_ipv6(&pdr.ue_ipv6));
    }
    keys
}

fn rule_error(kind: &'static str, id: u32, message: impl Into<String>) -> WriteError {
    WriteError::Rule {
        kind,
        id,
        message: message.into(),
    }
}

impl Writer {
    /// Attaches to the UPF's region: takes every session of its published generation, and
    /// removes whatever a writer that died mid-change left of another.
    pub fn attach(region: &Region, caps: &Capacities) -> Result<Writer, WriteError> {
        let mut writer = Writer {
            caps: *caps,
            sessions_table: region.table(layout::SESSIONS)?,
            index: region.table(layout::PDR_INDEX)?,
            pdrs: region.table(layout::PDRS)?,
            fars: region.table(layout::FARS)?,
            qers: region.table(layout::QERS)?,
            urrs: region.table(layout::URRS)?,
            session_state: region.cells(layout::SESSION_STATE)?,
            qer_state: region.cells(layout::QER_STATE)?,
            urr_state: region.cells(layout::URR_STATE)?,
            live: HashMap::new(),
            owners: HashMap::new(),
            free_slots: Vec::new(),
            free_qer_cells: VecDeque::new(),
            free_urr_cells: VecDeque::new(),
            totals: [0; 4],
        };
        writer.restore()?;
        Ok(writer)
    }

    fn committed(&self, slot: u32) -> u64 {
        self.session_state
            .cell(u64::from(slot))
            .map_or(0, |c| c[SESSION_COMMITTED].load(Ordering::Acquire))
    }

    fn is_published(&self, key: &RuleKey) -> bool {
        self.committed(key.slot) == SESSION_LIVE | u64::from(key.generation)
    }

    fn restore(&mut self) -> Result<(), WriteError> {
        let mut found: BTreeMap<(u32, u32), (SessionRecord, Rules)> = BTreeMap::new();
        let mut stale: Vec<(usize, Vec<u8>)> = Vec::new();
        for (key, value) in self.sessions_table.iter() {
            let k = RuleKey::from_bytes(&key);
            if self.is_published(&k) {
                let record = SessionRecord::from_bytes(&value);
                let bar = (record.flags & SESSION_HAS_BAR != 0).then(|| {
                    (
                        record.bar_id,
                        (record.flags & SESSION_HAS_SUGGESTED_BUFFERING != 0)
                            .then_some(record.suggested_buffering_packets),
                    )
                });
                let rules = Rules {
                    bar,
                    pdrs: vec![],
                    fars: vec![],
                    qers: vec![],
                    urrs: vec![],
                };
                found.insert((k.slot, k.generation), (record, rules));
            } else {
                stale.push((0, key));
            }
        }
        for (which, table) in [&self.pdrs, &self.fars, &self.qers, &self.urrs]
            .into_iter()
            .enumerate()
        {
            for (key, value) in table.iter() {
                let k = RuleKey::from_bytes(&key);
                let Some((_, rules)) = found.get_mut(&(k.slot, k.generation)) else {
                    stale.push((which + 1, key));
                    continue;
                };
                match which {
                    0 => rules.pdrs.push(PdrRecord::from_bytes(&value)),
                    1 => rules.fars.push(FarRecord::from_bytes(&value)),
                    2 => rules.qers.push(QerRecord::from_bytes(&value)),
                    _ => rules.urrs.push(UrrRecord::from_bytes(&value)),
                }
            }
        }
        for (kind, key) in stale {
            let table = match kind {
                0 => &mut self.sessions_table,
                1 => &mut self.pdrs,
                2 => &mut self.fars,
                3 => &mut self.qers,
                _ => &mut self.urrs,
            };
            table.remove(&key)?;
        }
        let mut used_qer = HashSet::new();
        let mut used_urr = HashSet::new();
        for ((slot, generation), (record, mut rules)) in found {
            let counts = [
                rules.pdrs.len(),
                rules.fars.len(),
                rules.qers.len(),
                rules.urrs.len(),
            ];
            let declared = [record.pdrs, record.fars, record.qers, record.urrs].map(usize::from);
            if counts != declared {
                return Err(WriteError::NoResources(format!(
                    "session {:#x}: records {counts:?}, the session record says {declared:?}",
                    record.seid
                )));
            }
            rules.pdrs.sort_by_key(|p| p.hot.pdr_id);
            rules.fars.sort_by_key(|f| f.far_id);
            rules.qers.sort_by_key(|q| q.qer_id);
            rules.urrs.sort_by_key(|u| u.limits.urr_id);
            used_qer.extend(rules.qers.iter().map(|q| q.cell));
            used_urr.extend(rules.urrs.iter().map(|u| u.limits.cell));
            let keys: Vec<MatchKey> = unique_keys(&rules.pdrs);
            for key in &keys {
                self.owners.insert(*key, record.seid);
            }
            self.add_totals(&rules, 1);
            self.live.insert(
                record.seid,
                Live {
                    slot,
                    generation,
                    rules,
                    keys,
                },
            );
        }
        // Index records of no published generation.
        let mut stale_keys = Vec::new();
        for (key, value) in self.index.iter() {
            let k = MatchKey::from_bytes(&key);
            let record = MatchRecord::from_bytes(&value);
            if self.owners.get(&k) != Some(&record.seid) {
                stale_keys.push(key);
            }
        }
        for key in stale_keys {
            self.index.remove(&key)?;
        }
        let used_slots: HashSet<u32> = self.live.values().map(|l| l.slot).collect();
        self.free_slots = (0..self.caps.sessions)
            .rev()
            .filter(|s| !used_slots.contains(s))
            .collect();
        self.free_qer_cells = (0..self.qer_state.capacity() as u32)
            .filter(|c| !used_qer.contains(c))
            .collect();
        self.free_urr_cells = (0..self.urr_state.capacity() as u32)
            .filter(|c| !used_urr.contains(c))
            .collect();
        Ok(())
    }

    fn add_totals(&mut self, rules: &Rules, sign: isize) {
        let counts = [
            rules.pdrs.len(),
            rules.fars.len(),
            rules.qers.len(),
            rules.urrs.len(),
        ];
        for (total, n) in self.totals.iter_mut().zip(counts) {
            *total = total.wrapping_add_signed(sign * n as isize);
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn get(&self, seid: u64) -> Option<&Rules> {
        self.live.get(&seid).map(|l| &l.rules)
    }

    pub fn seids(&self) -> impl Iterator<Item = u64> + '_ {
        self.live.keys().copied()
    }

    /// The counts of URR `urr_id` of session `seid`: [uplink packets, uplink bytes, downlink
    /// packets, downlink bytes].
    pub fn usage(&self, seid: u64, urr_id: u32) -> Option<[u64; 4]> {
        let urr = self
            .live
            .get(&seid)?
            .rules
            .urrs
            .iter()
            .find(|u| u.limits.urr_id == urr_id)?;
        let cell = self.urr_state.cell(u64::from(urr.limits.cell))?;
        Some([
            cell[URR_UPLINK_PACKETS].load(Ordering::Relaxed),
            cell[URR_UPLINK_BYTES].load(Ordering::Relaxed),
            cell[URR_DOWNLINK_PACKETS].load(Ordering::Relaxed),
            cell[URR_DOWNLINK_BYTES].load(Ordering::Relaxed),
        ])
    }

    /// Checks `rules` against the others and the capacities; nothing is written.
    fn check(&self, seid: u64, rules: &Rules) -> Result<Vec<MatchKey>, WriteError> {
        let limits = [
            ("PDRs", rules.pdrs.len(), MAX_PDR_PER_SESSION),
            ("FARs", rules.fars.len(), MAX_FAR_PER_SESSION),
            ("QERs", rules.qers.len(), MAX_QER_PER_SESSION),
            ("URRs", rules.urrs.len(), MAX_URR_PER_SESSION),
        ];
        for (what, n, max) in limits {
            if n > max {
                return Err(WriteError::NoResources(format!(
                    "{n} {what} in one session, at most {max}"
                )));
            }
        }
        let old = self.live.get(&seid);
        let old_counts = old.map_or([0; 4], |l| {
            [
                l.rules.pdrs.len(),
                l.rules.fars.len(),
                l.rules.qers.len(),
                l.rules.urrs.len(),
            ]
        });
        let caps = [
            self.caps.pdrs,
            self.caps.fars,
            self.caps.qers,
            self.caps.urrs,
        ];
        let new_counts = [
            rules.pdrs.len(),
            rules.fars.len(),
            rules.qers.len(),
            rules.urrs.len(),
        ];
        for (i, what) in ["PDR", "FAR", "QER", "URR"].into_iter().enumerate() {
            if self.totals[i] - old_counts[i] + new_counts[i] > caps[i] as usize {
                return Err(WriteError::NoResources(format!(
                    "the {what} table is full ({} {what}s)",
                    caps[i]
                )));
            }
        }
        if old.is_none() && self.free_slots.is_empty() {
            return Err(WriteError::NoResources(format!(
                "the session table is full ({} sessions)",
                self.caps.sessions
            )));
        }
        for pdr in &rules.pdrs {
            let id = u32::from(pdr.hot.pdr_id);
            if !rules.fars.iter().any(|f| f.far_id == pdr.hot.far_id) {
                return Err(rule_error(
                    "pdr",
                    id,
                    format!("FAR {} does not exist", pdr.hot.far_id),
                ));
            }
            for qer in pdr.hot.qers() {
                if !rules.qers.iter().any(|q| q.qer_id == qer.qer_id) {
                    return Err(rule_error(
                        "pdr",
                        id,
                        format!("QER {} does not exist", qer.qer_id),
                    ));
                }
            }
            for urr in pdr.hot.urrs() {
                if !rules.urrs.iter().any(|u| u.limits.urr_id == urr.urr_id) {
                    return Err(rule_error(
                        "pdr",
                        id,
                        format!("URR {} does not exist", urr.urr_id),
                    ));
                }
            }
            if pdr_keys(pdr).is_empty() {
                return Err(rule_error(
                    "pdr",
                    id,
                    "neither a local F-TEID nor a UE address",
                ));
            }
        }
        let keys = unique_keys(&rules.pdrs);
        for key in &keys {
            if let Some(owner) = self.owners.get(key).filter(|o| **o != seid) {
                return Err(rule_error(
                    "pdr",
                    0,
                    format!("key {key:?} belongs to session {owner:#x}"),
                ));
            }
        }
        let new_keys = keys
            .iter()
            .filter(|k| old.is_none_or(|l| !l.keys.contains(k)))
            .count();
        if self.index.len() as usize + new_keys > self.index.capacity() as usize {
            return Err(WriteError::NoResources("the PDR index is full".into()));
        }
        let new_qers = rules
            .qers
            .iter()
            .filter(|q| old.is_none_or(|l| !l.rules.qers.iter().any(|o| o.qer_id == q.qer_id)))
            .count();
        if new_qers > self.free_qer_cells.len() {
            return Err(WriteError::NoResources("no QER cell left".into()));
        }
        let new_urrs = rules
            .urrs
            .iter()
            .filter(|u| {
                old.is_none_or(|l| {
                    !l.rules
                        .urrs
                        .iter()
                        .any(|o| o.limits.urr_id == u.limits.urr_id)
                })
            })
            .count();
        if new_urrs > self.free_urr_cells.len() {
            return Err(WriteError::NoResources("no URR cell left".into()));
        }
        Ok(keys)
    }

    /// Creates session `seid` or replaces all its rules, visible to packets all at once.
    pub fn put(&mut self, seid: u64, mut rules: Rules) -> Result<(), WriteError> {
        let keys = self.check(seid, &rules)?;
        let old = self.live.remove(&seid);
        let slot = match &old {
            Some(live) => live.slot,
            None => self.free_slots.pop().unwrap_or(0),
        };
        let previous = self.committed(slot) as u32;
        let generation = previous.wrapping_add(1).max(1);

        // Cells: kept for rules that stay, fresh (and zeroed) for new ones.
        for qer in &mut rules.qers {
            qer.cell = match old
                .as_ref()
                .and_then(|l| l.rules.qers.iter().find(|o| o.qer_id == qer.qer_id))
            {
                Some(o) => o.cell,
                None => {
                    let cell = self.free_qer_cells.pop_front().unwrap_or(0);
                    for word in self.qer_state.cell(u64::from(cell)).into_iter().flatten() {
                        word.store(0, Ordering::Relaxed);
                    }
                    cell
                }
            };
        }
        for urr in &mut rules.urrs {
            let kept = old
                .as_ref()
                .and_then(|l| {
                    l.rules
                        .urrs
                        .iter()
                        .find(|o| o.limits.urr_id == urr.limits.urr_id)
                })
                .copied();
            let cell = match kept {
                Some(o) => o.limits.cell,
                None => {
                    let cell = self.free_urr_cells.pop_front().unwrap_or(0);
                    for word in self.urr_state.cell(u64::from(cell)).into_iter().flatten() {
                        word.store(0, Ordering::Relaxed);
                    }
                    cell
                }
            };
            urr.limits.cell = cell;
            // A changed limit counts from the volume measured now, in a new epoch (its event
            // comes once more); an unchanged one stays as it was.
            let counts = self.urr_state.cell(u64::from(cell));
            let measured = |i: usize| {
                counts.map_or(0, |c| {
                    let up = c[URR_UPLINK_BYTES].load(Ordering::Relaxed);
                    let down = c[URR_DOWNLINK_BYTES].load(Ordering::Relaxed);
                    [up.wrapping_add(down), up, down][i]
                })
            };
            let flags = urr.limits.flags;
            match kept {
                Some(o)
                    if o.threshold == urr.threshold
                        && o.limits.flags & LIMIT_THRESHOLD == flags & LIMIT_THRESHOLD =>
                {
                    urr.limits.threshold_epoch = o.limits.threshold_epoch;
                    urr.limits.threshold_at = o.limits.threshold_at;
                }
                _ => {
                    urr.limits.threshold_epoch = generation;
                    for i in 0..3 {
                        urr.limits.threshold_at[i] = measured(i).saturating_add(urr.threshold[i]);
                    }
                }
            }
            match kept {
                Some(o)
                    if o.quota == urr.quota
                        && o.limits.flags & LIMIT_QUOTA == flags & LIMIT_QUOTA =>
                {
                    urr.limits.quota_epoch = o.limits.quota_epoch;
                    urr.limits.quota_at = o.limits.quota_at;
                }
                _ => {
                    urr.limits.quota_epoch = generation;
                    for i in 0..3 {
                        urr.limits.quota_at[i] = measured(i).saturating_add(urr.quota[i]);
                    }
                }
            }
        }
        // PDR heads: copies of their FAR, QERs and URRs; chains in precedence order.
        for pdr in &mut rules.pdrs {
            let hot = &mut pdr.hot;
            hot.seid = seid;
            if let Some(far) = rules.fars.iter().find(|f| f.far_id == hot.far_id) {
                hot.far = far.action;
            }
            for q in 0..usize::from(hot.qer_count).min(MAX_QER_PER_PDR) {
                if let Some(qer) = rules.qers.iter().find(|r| r.qer_id == hot.qers[q].qer_id) {
                    hot.qers[q] = *qer;
                }
            }
            for u in 0..usize::from(hot.urr_count).min(MAX_URR_PER_PDR) {
                if let Some(urr) = rules
                    .urrs
                    .iter()
                    .find(|r| r.limits.urr_id == hot.urrs[u].urr_id)
                {
                    hot.urrs[u] = urr.limits;
                }
            }
            hot.next = [NONE; 2];
        }
        let mut heads: HashMap<MatchKey, u32> = HashMap::new();
        for key in &keys {
            let mut members: Vec<usize> = (0..rules.pdrs.len())
                .filter(|&i| pdr_keys(&rules.pdrs[i]).contains(key))
                .collect();
            members.sort_by_key(|&i| (rules.pdrs[i].hot.precedence, rules.pdrs[i].hot.pdr_id));
            for pair in members.windows(2) {
                let next = u32::from(rules.pdrs[pair[1]].hot.pdr_id);
                rules.pdrs[pair[0]].hot.next[key.chain()] = next;
            }
            heads.insert(
                *key,
                members
                    .first()
                    .map_or(NONE, |&i| u32::from(rules.pdrs[i].hot.pdr_id)),
            );
        }

        // The next generation, under keys no reader uses yet.
        let session = SessionRecord {
            seid,
            slot,
            generation,
            pdrs: rules.pdrs.len() as u16,
            fars: rules.fars.len() as u16,
            qers: rules.qers.len() as u16,
            urrs: rules.urrs.len() as u16,
            flags: rules.bar.map_or(0, |(_, s)| {
                SESSION_HAS_BAR
                    | if s.is_some() {
                        SESSION_HAS_SUGGESTED_BUFFERING
                    } else {
                        0
                    }
            }),
            bar_id: rules.bar.map_or(0, |b| b.0),
            suggested_buffering_packets: rules.bar.and_then(|b| b.1).unwrap_or(0),
            _pad: 0,
        };
        let key = |id: u32| RuleKey::new(slot, generation, id);
        self.sessions_table
            .insert(key(0).as_bytes(), session.as_bytes())?;
        for pdr in &rules.pdrs {
            self.pdrs
                .insert(key(u32::from(pdr.hot.pdr_id)).as_bytes(), pdr.as_bytes())?;
        }
        for far in &rules.fars {
            self.fars
                .insert(key(far.far_id).as_bytes(), far.as_bytes())?;
        }
        for qer in &rules.qers {
            self.qers
                .insert(key(qer.qer_id).as_bytes(), qer.as_bytes())?;
        }
        for urr in &rules.urrs {
            self.urrs
                .insert(key(urr.limits.urr_id).as_bytes(), urr.as_bytes())?;
        }
        let old_keys = old.as_ref().map_or(&[][..], |l| &l.keys[..]);
        let half = (generation & 1) as usize;
        for k in keys
            .iter()
            .chain(old_keys.iter().filter(|k| !keys.contains(k)))
        {
            let mut record = match self.index.get(k.as_bytes()) {
                Some(bytes) => MatchRecord::from_bytes(&bytes),
                None => MatchRecord {
                    seid,
                    slot,
                    _pad: 0,
                    heads: [ChainHead {
                        generation: 0,
                        first: NONE,
                    }; 2],
                },
            };
            record.heads[half] = ChainHead {
                generation,
                first: heads.get(k).copied().unwrap_or(NONE),
            };
            self.index.insert(k.as_bytes(), record.as_bytes())?;
        }

        // The flip.
        if let Some(cell) = self.session_state.cell(u64::from(slot)) {
            cell[SESSION_COMMITTED].store(SESSION_LIVE | u64::from(generation), Ordering::Release);
        }

        // What no generation uses any more.
        if let Some(old) = &old {
            self.remove_generation(old)?;
            for k in old.keys.iter().filter(|k| !keys.contains(k)) {
                self.index.remove(k.as_bytes())?;
                self.owners.remove(k);
            }
            for qer in &old.rules.qers {
                if !rules.qers.iter().any(|q| q.qer_id == qer.qer_id) {
                    self.free_qer_cells.push_back(qer.cell);
                }
            }
            for urr in &old.rules.urrs {
                if !rules
                    .urrs
                    .iter()
                    .any(|u| u.limits.urr_id == urr.limits.urr_id)
                {
                    self.free_urr_cells.push_back(urr.limits.cell);
                }
            }
            self.add_totals(&old.rules, -1);
        }
        for k in &keys {
            self.owners.insert(*k, seid);
        }
        self.add_totals(&rules, 1);
        self.live.insert(
            seid,
            Live {
                slot,
                generation,
                rules,
                keys,
            },
        );
        Ok(())
    }

    fn remove_generation(&mut self, live: &Live) -> Result<(), WriteError> {
        let key = |id: u32| RuleKey::new(live.slot, live.generation, id);
        self.sessions_table.remove(key(0).as_bytes())?;
        for pdr in &live.rules.pdrs {
            self.pdrs
                .remove(key(u32::from(pdr.hot.pdr_id)).as_bytes())?;
        }
        for far in &live.rules.fars {
            self.fars.remove(key(far.far_id).as_bytes())?;
        }
        for qer in &live.rules.qers {
            self.qers.remove(key(qer.qer_id).as_bytes())?;
        }
        for urr in &live.rules.urrs {
            self.urrs.remove(key(urr.limits.urr_id).as_bytes())?;
        }
        Ok(())
    }

    /// Removes session `seid` (from every packet at once); its rules as they were.
    pub fn delete(&mut self, seid: u64) -> Result<Rules, WriteError> {
        let live = self.live.remove(&seid).ok_or(WriteError::NotFound(seid))?;
        if let Some(cell) = self.session_state.cell(u64::from(live.slot)) {
            cell[SESSION_COMMITTED].store(u64::from(live.generation), Ordering::Release);
        }
        self.remove_generation(&live)?;
        for k in &live.keys {
            self.index.remove(k.as_bytes())?;
            self.owners.remove(k);
        }
        self.free_qer_cells
            .extend(live.rules.qers.iter().map(|q| q.cell));
        self.free_urr_cells
            .extend(live.rules.urrs.iter().map(|u| u.limits.cell));
        self.free_slots.push(live.slot);
        self.add_totals(&live.rules, -1);
        Ok(live.rules)
    }
}

/// The keys of `pdrs`, each once, in order of first use.
fn unique_keys(pdrs: &[PdrRecord]) -> Vec<MatchKey> {
    let mut keys = Vec::new();
    for pdr in pdrs {
        for key in pdr_keys(pdr) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}
