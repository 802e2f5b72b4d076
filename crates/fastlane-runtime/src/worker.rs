//! A data-plane thread: run to completion over the port queues pinned to one core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use fastlane_core::{Batch, Pipeline, QueueCounters, ThreadIo};

use crate::sys;

/// What a data-plane thread needs, prepared on the setup thread.
pub(crate) struct Worker {
    pub core: u16,
    pub io: Box<dyn ThreadIo>,
    pub pipeline: Pipeline,
    pub counters: Arc<[QueueCounters]>,
    pub batch_size: usize,
}

impl Worker {
    /// Pins itself, reports whether that worked on `ready`, then forwards until `stop` is set.
    /// A panic in a processor ends the thread and is recorded in `failure`.
    pub fn run(
        mut self,
        stop: Arc<AtomicBool>,
        ready: mpsc::Sender<(u16, Result<(), String>)>,
        failure: Arc<Mutex<Option<String>>>,
    ) {
        if let Err(e) = sys::pin_current_thread(self.core) {
            let _ = ready.send((self.core, Err(format!("sched_setaffinity: {e}"))));
            return;
        }
        let _ = ready.send((self.core, Ok(())));
        let core = self.core;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.forward(&stop)));
        if let Err(panic) = result {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let mut failure = failure.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert(format!("data-plane thread on core {core} panicked: {what}"));
        }
    }

    fn forward(&mut self, stop: &AtomicBool) {
        let mut batch = Batch::with_capacity(self.batch_size);
        let queues = self.io.queues().len();
        while !stop.load(Ordering::Relaxed) {
            let mut received = 0;
            for source in 0..queues {
                let n = self.io.receive(source, &mut batch, &self.counters[source]);
                if n > 0 {
                    self.pipeline.processor.process(&mut batch);
                    self.io.complete(source, &mut batch, &self.counters);
                    received += n;
                }
            }
            if received == 0 {
                self.io.idle(&[]);
            }
        }
    }
}
