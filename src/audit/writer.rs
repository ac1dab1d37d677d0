//! Where audit lines go, and when: decision lines are appended to a buffer in memory and written by one
//! background thread, one `write` per batch, at most `flush_interval` after they were recorded; an admin line
//! is written (with every line recorded before it) before its action runs, and its failure is reported.
//!
//! Order is kept: every write takes the target's lock, then the buffer's, and writes what was recorded first.
//! Bounded: past `HIGH_WATER` bytes the thread is woken at once; past `MAX_PENDING` the recording thread writes
//! the batch itself (back-pressure instead of unbounded memory). `close` writes the rest and stops the thread;
//! after it (or with an interval of zero) every line is written when it is recorded.

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Wake the writer at once past this many buffered bytes.
const HIGH_WATER: usize = 256 * 1024;
/// Write from the recording thread past this many buffered bytes.
const MAX_PENDING: usize = 8 * 1024 * 1024;

pub(super) enum Target {
    Stdout,
    File(File),
}

impl Target {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Target::File(file) => file.write_all(bytes).and_then(|()| file.flush()),
        }
    }
}

#[derive(Default)]
struct Pending {
    buffer: Vec<u8>,
    closed: bool,
}

struct Shared {
    target: Mutex<Target>,
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// The audit log's writer (see the module doc).
pub(super) struct Writer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn poisoned() -> std::io::Error {
    std::io::Error::other("the audit log's lock is poisoned")
}

impl Writer {
    /// A writer that batches for up to `flush_interval` (zero: none, every line written when recorded).
    pub(super) fn start(target: Target, flush_interval: Duration) -> std::io::Result<Writer> {
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            pending: Mutex::new(Pending { buffer: Vec::new(), closed: flush_interval.is_zero() }),
            wake: Condvar::new(),
        });
        let thread = match flush_interval.is_zero() {
            true => None,
            false => {
                let shared = Arc::clone(&shared);
                let spawned = std::thread::Builder::new()
                    .name("tollgate-audit".into())
                    .spawn(move || write_batches(&shared, flush_interval))?;
                Some(spawned)
            }
        };
        Ok(Writer { shared, thread: Mutex::new(thread) })
    }

    /// Queues one line (written within the flush interval). Write errors are logged, never returned.
    pub(super) fn record(&self, line: impl FnOnce(&mut Vec<u8>)) {
        let Ok(mut pending) = self.shared.pending.lock() else { return };
        if pending.closed {
            let mut buffer = std::mem::take(&mut pending.buffer);
            line(&mut buffer);
            drop(pending);
            report(self.write_in_order(Some(&buffer)));
            return;
        }
        line(&mut pending.buffer);
        let size = pending.buffer.len();
        drop(pending);
        if size >= MAX_PENDING {
            report(self.write_in_order(None));
        } else if size >= HIGH_WATER {
            self.shared.wake.notify_one();
        }
    }

    /// Writes every queued line, then `line` if given, before returning; the caller learns whether it worked.
    pub(super) fn write_now(&self, line: &[u8]) -> std::io::Result<()> {
        self.write_in_order(Some(line))
    }

    /// Writes every queued line now.
    pub(super) fn flush(&self) -> std::io::Result<()> {
        self.write_in_order(None)
    }

    /// Replaces the target (after a rotation), once what was queued went to the old one.
    pub(super) fn replace_target(&self, target: Target) -> std::io::Result<()> {
        let mut current = self.shared.target.lock().map_err(|_| poisoned())?;
        let queued = take(&self.shared)?;
        let written = if queued.is_empty() { Ok(()) } else { current.write(&queued) };
        *current = target;
        written
    }

    /// Writes what is queued and stops the thread; later lines are written when recorded.
    pub(super) fn close(&self) {
        if let Ok(mut pending) = self.shared.pending.lock() {
            pending.closed = true;
        }
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.lock().ok().and_then(|mut slot| slot.take()) {
            let _ = thread.join();
        }
        report(self.flush());
    }

    fn write_in_order(&self, then: Option<&[u8]>) -> std::io::Result<()> {
        let mut target = self.shared.target.lock().map_err(|_| poisoned())?;
        let mut queued = take(&self.shared)?;
        if let Some(line) = then {
            queued.extend_from_slice(line);
        }
        if queued.is_empty() { Ok(()) } else { target.write(&queued) }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn take(shared: &Shared) -> std::io::Result<Vec<u8>> {
    let mut pending: MutexGuard<'_, Pending> = shared.pending.lock().map_err(|_| poisoned())?;
    Ok(std::mem::take(&mut pending.buffer))
}

fn report(result: std::io::Result<()>) {
    if let Err(error) = result {
        tracing::error!(error = %error, "Writing the audit log failed.");
    }
}

/// The thread: every `interval` (or when woken), writes what was queued; ends once closed and drained.
fn write_batches(shared: &Shared, interval: Duration) {
    loop {
        let Ok(pending) = shared.pending.lock() else { return };
        let Ok((pending, _)) =
            shared.wake.wait_timeout_while(pending, interval, |p| !p.closed && p.buffer.len() < HIGH_WATER)
        else {
            return;
        };
        let closed = pending.closed;
        drop(pending);
        let written = shared.target.lock().map_err(|_| poisoned()).and_then(|mut target| {
            let queued = take(shared)?;
            if queued.is_empty() { Ok(()) } else { target.write(&queued) }
        });
        report(written);
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_writer(interval_ms: u64) -> (tempfile::TempDir, std::path::PathBuf, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        let writer = Writer::start(Target::File(file), Duration::from_millis(interval_ms)).unwrap();
        (dir, path, writer)
    }

    fn line(text: &str) -> impl FnOnce(&mut Vec<u8>) + '_ {
        move |out: &mut Vec<u8>| {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
    }

    fn read(path: &std::path::Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn lines_wait_in_memory_until_the_interval_or_a_flush_and_keep_their_order() {
        let (_dir, path, writer) = file_writer(60_000);
        writer.record(line("a"));
        writer.record(line("b"));
        assert_eq!(read(&path), "", "batched, not written yet");
        writer.write_now(b"admin\n").unwrap();
        assert_eq!(read(&path), "a\nb\nadmin\n", "an admin line goes after what was recorded before it");
        writer.record(line("c"));
        writer.flush().unwrap();
        assert_eq!(read(&path), "a\nb\nadmin\nc\n");
    }

    #[test]
    fn the_thread_writes_each_interval_and_close_writes_the_rest_then_writes_at_once() {
        let (_dir, path, writer) = file_writer(10);
        writer.record(line("a"));
        for _ in 0..2000 {
            if !read(&path).is_empty() {
                break;
            }
            std::thread::park_timeout(Duration::from_millis(5)); // waiting on the real writer thread
        }
        assert_eq!(read(&path), "a\n", "written by the thread without a flush");
        let (_dir, path, writer) = file_writer(60_000);
        writer.record(line("b"));
        writer.close();
        assert_eq!(read(&path), "b\n", "close writes what was queued");
        writer.record(line("c"));
        assert_eq!(read(&path), "b\nc\n", "after close every line is written when recorded");
    }

    #[test]
    fn an_interval_of_zero_writes_every_line_when_recorded() {
        let (_dir, path, writer) = file_writer(0);
        writer.record(line("a"));
        assert_eq!(read(&path), "a\n");
    }

    #[test]
    fn a_rotation_sends_queued_lines_to_the_old_file() {
        let (dir, path, writer) = file_writer(60_000);
        writer.record(line("old"));
        let rotated = dir.path().join("audit.jsonl.1");
        std::fs::rename(&path, &rotated).unwrap();
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
        writer.replace_target(Target::File(file)).unwrap();
        writer.record(line("new"));
        writer.flush().unwrap();
        assert_eq!((read(&rotated), read(&path)), ("old\n".to_owned(), "new\n".to_owned()));
    }

    #[test]
    fn past_the_high_water_mark_the_thread_is_woken_and_past_the_maximum_the_recorder_writes() {
        let (_dir, path, writer) = file_writer(60_000);
        let big = "x".repeat(HIGH_WATER);
        writer.record(line(&big));
        for _ in 0..2000 {
            if !read(&path).is_empty() {
                break;
            }
            std::thread::park_timeout(Duration::from_millis(5)); // waiting on the real writer thread
        }
        assert_eq!(read(&path).len(), HIGH_WATER + 1, "woken long before its 60 s interval");
        drop(writer);
        let (_dir, path, writer) = file_writer(60_000);
        // Past the maximum, `record` returns only once the batch is written (by itself, or by the woken thread
        // while it waited for the target): back-pressure, not more memory.
        let huge = "y".repeat(MAX_PENDING);
        writer.record(line(&huge));
        assert!(read(&path).len() > MAX_PENDING, "written before record returned");
    }
}
