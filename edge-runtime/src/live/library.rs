//! The styles of a live run, kept current while it runs: with a models folder, a watcher
//! thread notices a style copied in, replaced or removed, loads it beside the running
//! network and hands the inference thread the new set between two frames, so a kiosk
//! picks up new styles without a restart and without a gap in the picture.
//!
//! A multi-style file is several entries of the list, one per style it holds (or the one
//! `--style` names); a replaced multi-style file replaces all of them.
//!
//! A file is loaded once its size and modification time have held still for one scan (a
//! copy in progress is left alone); a file that does not load is skipped with a log line
//! and tried again when it changes. A folder that ends up with nothing loadable keeps the
//! last good styles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use stylecast::{Precision, Stylizer};

use crate::models::StyleEntry;

/// How often the folder is looked at.
pub const SCAN_EVERY: Duration = Duration::from_secs(1);

/// One version of the style list.
pub struct StyleSet {
    pub styles: Vec<StyleEntry>,
    pub names: Vec<String>,
    /// Bumped on every change; the presenter follows it.
    pub version: u64,
}

impl StyleSet {
    fn new(styles: Vec<StyleEntry>, version: u64) -> Self {
        let names = styles.iter().map(|s| s.name.clone()).collect();
        Self {
            styles,
            names,
            version,
        }
    }
}

/// The current style set, shared by the watcher (writes), inference and display (read).
pub struct Library {
    current: Mutex<Arc<StyleSet>>,
}

impl Library {
    pub fn new(styles: Vec<StyleEntry>) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(Arc::new(StyleSet::new(styles, 0))),
        })
    }

    /// The set to use now (cheap: an `Arc` clone).
    pub fn current(&self) -> Arc<StyleSet> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish(&self, styles: Vec<StyleEntry>) -> Arc<StyleSet> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        *cur = Arc::new(StyleSet::new(styles, cur.version + 1));
        cur.clone()
    }
}

/// What the watcher knows of one file.
#[derive(Clone)]
enum Entry {
    /// Seen with this stamp, not yet loaded (it may still be being copied).
    Settling(Stamp),
    /// Its entries (one per style of a multi-style file).
    Loaded(Stamp, Vec<StyleEntry>),
    /// Did not load with this stamp; tried again when the stamp changes.
    Failed(Stamp),
}

impl Entry {
    fn stamp(&self) -> Stamp {
        match self {
            Entry::Settling(s) | Entry::Loaded(s, _) | Entry::Failed(s) => *s,
        }
    }
}

type Stamp = (u64, Option<SystemTime>);

fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.len(), m.modified().ok()))
}

/// Watches `dir` and publishes each change of its loadable models; returns when `stop`
/// says so. `initial` are the files already loaded at start, in `paths` order.
pub struct Watcher {
    dir: PathBuf,
    device: candle_core::Device,
    precision: Precision,
    /// `--style`, applied to every file loaded.
    style: Option<String>,
    entries: BTreeMap<PathBuf, Entry>,
    /// The loaded files of the published set, to publish only real changes.
    published: Vec<(PathBuf, Stamp)>,
    said_empty: bool,
    quiet: bool,
}

impl Watcher {
    pub fn new(
        dir: &Path,
        device: candle_core::Device,
        precision: Precision,
        style: Option<String>,
        initial: &[(PathBuf, Vec<StyleEntry>)],
        quiet: bool,
    ) -> Self {
        let mut entries = BTreeMap::new();
        let mut published = Vec::new();
        for (p, s) in initial {
            if let Some(st) = stamp(p) {
                entries.insert(p.clone(), Entry::Loaded(st, s.clone()));
                published.push((p.clone(), st));
            }
        }
        Self {
            dir: dir.to_path_buf(),
            device,
            precision,
            style,
            entries,
            published,
            said_empty: false,
            quiet,
        }
    }

    /// One look at the folder; publishes to `library` when the loadable set changed.
    pub fn scan(&mut self, library: &Library) {
        let files = match stylecast::io::model_file::models_in(&self.dir) {
            Ok(f) => f,
            Err(e) => {
                if !self.said_empty {
                    eprintln!(
                        "warning: {}: cannot read the models folder ({e}); keeping the last good styles",
                        self.dir.display()
                    );
                    self.said_empty = true;
                }
                return;
            }
        };
        let mut next = BTreeMap::new();
        for f in files {
            let Some(now) = stamp(&f) else { continue };
            let entry = match self.entries.remove(&f) {
                Some(e) if e.stamp() != now => Entry::Settling(now),
                Some(Entry::Settling(_)) => self.load(&f, now),
                Some(e) => e,
                None => Entry::Settling(now),
            };
            next.insert(f, entry);
        }
        self.entries = next;
        let loaded: Vec<(PathBuf, Stamp, Vec<StyleEntry>)> = self
            .entries
            .iter()
            .filter_map(|(p, e)| match e {
                Entry::Loaded(st, s) => Some((p.clone(), *st, s.clone())),
                _ => None,
            })
            .collect();
        // Files still settling are left for the next scan before deciding what changed.
        if self
            .entries
            .values()
            .any(|e| matches!(e, Entry::Settling(_)))
        {
            return;
        }
        let keys: Vec<(PathBuf, Stamp)> =
            loaded.iter().map(|(p, st, _)| (p.clone(), *st)).collect();
        if keys == self.published {
            return;
        }
        // No entries counts as empty too: files left, but none with the --style asked for.
        if loaded.iter().all(|(_, _, s)| s.is_empty()) {
            if !self.said_empty {
                eprintln!(
                    "warning: {}: no loadable model left; keeping the last good styles",
                    self.dir.display()
                );
                self.said_empty = true;
            }
            return;
        }
        self.said_empty = false;
        let set = library.publish(loaded.into_iter().flat_map(|(_, _, s)| s).collect());
        self.published = keys;
        if !self.quiet {
            eprintln!(
                "styles reloaded from {}: {} [{}]",
                self.dir.display(),
                set.names.len(),
                set.names.join(", ")
            );
        }
    }

    fn load(&self, f: &Path, st: Stamp) -> Entry {
        let loaded = Stylizer::load(f, &self.device, self.precision)
            .map_err(anyhow::Error::from)
            .and_then(|s| match self.style.as_deref() {
                // A folder's file without the --style it runs with adds no entries.
                Some(spec) if crate::models::lacks_style(&s, spec) => Ok(Vec::new()),
                spec => crate::models::styles_of(f, s, spec),
            });
        match loaded {
            Ok(s) => Entry::Loaded(st, s),
            Err(e) => {
                eprintln!(
                    "warning: {}: cannot load model, skipped until it changes: {e:#}",
                    f.display()
                );
                Entry::Failed(st)
            }
        }
    }
}

/// The watcher thread's body: scans every `SCAN_EVERY` until `stopping()` says so.
pub fn watch_loop(mut w: Watcher, library: Arc<Library>, stopping: impl Fn() -> bool) {
    while !stopping() {
        // Short sleeps: the run's end is noticed at once.
        let t = std::time::Instant::now();
        while t.elapsed() < SCAN_EVERY {
            if stopping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        w.scan(&library);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::tests::random_multi;

    #[test]
    fn a_replaced_multi_style_file_replaces_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("multi.safetensors");
        random_multi(&["a", "b"]).save(&path).unwrap();
        let library = Library::new(Vec::new());
        let mut w = Watcher::new(
            dir.path(),
            candle_core::Device::Cpu,
            Precision::F32,
            None,
            &[],
            true,
        );
        // Seen, then loaded once it held still for a scan.
        w.scan(&library);
        w.scan(&library);
        let set = library.current();
        assert_eq!(set.names, ["a", "b"]);
        assert!(set.styles[0].same_file(&set.styles[1]));
        random_multi(&["c", "d", "e"]).save(&path).unwrap();
        w.scan(&library);
        w.scan(&library);
        assert_eq!(library.current().names, ["c", "d", "e"]);
        // With --style, the file is the one blend it names.
        let mut w = Watcher::new(
            dir.path(),
            candle_core::Device::Cpu,
            Precision::F32,
            Some("c:1,e:1".into()),
            &[],
            true,
        );
        w.scan(&library);
        w.scan(&library);
        assert_eq!(library.current().names, ["c:0.50,e:0.50"]);
    }
}
