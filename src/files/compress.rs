//! Compression done once: each version of a text file is compressed once
//! per encoding, off the loop, and the result is served from memory.
//!
//! - **What.** Files of a compressible type ([`compressible`]) from
//!   [`MIN_SIZE`] to [`MAX_SIZE`], in br, zstd and gzip (levels measured in
//!   `docs/compression.md`: the best each does in reasonable time, since
//!   the work is done once per version).
//! - **When.** A request that would take an encoding not made yet is served
//!   identity (or an on-disk `--precompressed` variant) and asks for it: a
//!   job goes to the worker pool ([`crate::work`]). No request ever waits
//!   for a compressor.
//! - **Once.** A version is what the `ETag` identifies (device, inode,
//!   size, modification time). The [`Compressor`], shared by every driver,
//!   runs one job per version and encoding and remembers recent results,
//!   so several event loops asking for the same one get the same bytes.
//! - **Where.** Each driver keeps what it got in an [`EncodedCache`],
//!   bounded in bytes (`--compress-cache`), least recently used first out,
//!   with a file's entry dropped as soon as a different version of it is
//!   looked up. An event loop owns its cache outright (no lock on the
//!   request path) and receives results through its mailbox and waker;
//!   the threaded driver's threads share one behind a lock.
//!
//! It never runs a compressor on a driver's thread, and never hands out
//! bytes of a version other than the one asked about.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::files::body::read_exact_at;
use crate::files::resolve::{Coding, Found, Source, Variants};
use crate::hold::{Hold, Shared};
use crate::work::Pool;

/// Smaller files are not worth a `Content-Encoding`: the saving is less
/// than a packet, and less than the header costs.
pub(crate) const MIN_SIZE: u64 = 1024;
/// Larger files are served identity: compressing them would hold a worker
/// for seconds and a large share of the cache.
pub(crate) const MAX_SIZE: u64 = 8 * 1024 * 1024;
/// Below this size the slowest, smallest levels are used (brotli 11, zstd
/// 19): about 65 ms for a 40 KB page. Above it, faster ones (brotli 9,
/// zstd 9), which take a third of a second rather than seconds on 4.7 MB.
pub(crate) const BEST_LEVELS_UP_TO: u64 = 1024 * 1024;
/// Files a cache keeps track of (made, asked for, or refused), whatever
/// their bytes: the least recently used goes first past this.
pub(crate) const MAX_FILES: usize = 4096;
/// Results the compressor remembers for other drivers asking after it.
const MEMO_MAX: usize = 512;

/// Whether files of type `mime` are compressed: text and the structured
/// formats served as text, wasm, and fonts that are not compressed
/// already. Never images (but SVG), audio, video, PDF, archives, woff and
/// woff2.
pub(crate) fn compressible(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime.ends_with("+xml")
        || mime.ends_with("+json")
        || matches!(
            mime,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "application/x-javascript"
                | "application/ld+json"
                | "application/manifest+json"
                | "application/rtf"
                | "application/x-sh"
                | "application/x-tar"
                | "application/vnd.ms-fontobject"
                | "font/ttf"
                | "font/otf"
                | "application/x-font-ttf"
                | "application/x-font-otf"
        )
}

/// Whether `found` (its type and size) gets encodings made on the fly.
pub(crate) fn eligible(found: &Found) -> bool {
    (MIN_SIZE..=MAX_SIZE).contains(&found.len) && compressible(found.mime)
}

/// `data` encoded with `coding`, at the level its size calls for.
pub(crate) fn encode(coding: Coding, data: &[u8]) -> io::Result<Vec<u8>> {
    let best = data.len() as u64 <= BEST_LEVELS_UP_TO;
    match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 3),
                flate2::Compression::best(),
            );
            e.write_all(data)?;
            e.finish()
        }
        Coding::Br => {
            // A window no larger than the file: the same output, and the
            // encoder's memory sized to the file rather than to 4 MiB.
            let lgwin = (usize::BITS - data.len().leading_zeros()).clamp(10, 24) as i32;
            let params = brotli::enc::BrotliEncoderParams {
                quality: if best { 11 } else { 9 },
                lgwin,
                ..Default::default()
            };
            let mut out = Vec::with_capacity(data.len() / 3);
            brotli::BrotliCompress(&mut &data[..], &mut out, &params)?;
            Ok(out)
        }
        Coding::Zstd => zstd::bulk::compress(data, if best { 19 } else { 9 }),
    }
}

/// What a version is known by: the canonical path, and the identity the
/// ETag is made from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Version {
    pub(crate) path: PathBuf,
    pub(crate) identity: (u64, u64, u64, i64, i64),
}

impl Version {
    pub(crate) fn of(found: &Found) -> Version {
        Version {
            path: found.path.clone(),
            identity: found.identity,
        }
    }
}

/// A finished job: the encoded bytes, or `None` when the file changed
/// under the compressor, could not be read, or did not get smaller.
#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub(crate) version: Version,
    /// The version as it was asked for: what the variant is built from.
    pub(crate) original: Arc<Found>,
    pub(crate) coding: Coding,
    pub(crate) bytes: Option<Arc<[u8]>>,
}

/// Where a driver wants its results.
pub(crate) type Deliver = Arc<dyn Fn(Done) + Send + Sync>;

#[derive(Default)]
struct Memo {
    /// Recent results, oldest first.
    /// INVARIANT: `bytes` is the sum of their lengths, at most the budget.
    done: std::collections::VecDeque<Done>,
    bytes: usize,
    /// Jobs under way, with whoever waits for each.
    running: HashMap<(Version, Coding), Vec<Deliver>>,
}

/// The pool that compresses, shared by every driver of a server.
pub(crate) struct Compressor {
    pool: Pool,
    memo: Mutex<Memo>,
    /// Most bytes of results remembered (`--compress-cache`).
    budget: usize,
}

impl Compressor {
    pub(crate) fn new(pool: Pool, budget: usize) -> Arc<Compressor> {
        Arc::new(Compressor {
            pool,
            memo: Mutex::new(Memo::default()),
            budget,
        })
    }

    /// Asks for `found` encoded with `coding`; the result goes to
    /// `deliver`, from a worker thread, or at once if it is already known.
    /// False when the pool's queue is full (ask again later).
    pub(crate) fn request(
        self: &Arc<Self>,
        found: &Arc<Found>,
        coding: Coding,
        deliver: Deliver,
    ) -> bool {
        let version = Version::of(found);
        let key = (version.clone(), coding);
        {
            let mut memo = crate::unpoison(self.memo.lock());
            if let Some(done) = memo
                .done
                .iter()
                .find(|d| d.coding == coding && d.version == version)
                .cloned()
            {
                drop(memo);
                deliver(done);
                return true;
            }
            if let Some(waiting) = memo.running.get_mut(&key) {
                waiting.push(deliver);
                return true;
            }
            memo.running.insert(key.clone(), vec![deliver]);
        }
        let me = self.clone();
        let found = found.clone();
        let queued = self.pool.spawn(move || {
            let bytes = compress_version(&found, coding);
            let done = Done {
                version: key.0.clone(),
                original: found.clone(),
                coding,
                bytes,
            };
            let waiting = {
                let mut memo = crate::unpoison(me.memo.lock());
                let len = done.bytes.as_ref().map_or(0, |b| b.len());
                while !memo.done.is_empty()
                    && (memo.done.len() >= MEMO_MAX || memo.bytes + len > me.budget)
                {
                    if let Some(old) = memo.done.pop_front() {
                        memo.bytes -= old.bytes.as_ref().map_or(0, |b| b.len());
                    }
                }
                if len <= me.budget {
                    memo.bytes += len;
                    memo.done.push_back(done.clone());
                }
                memo.running.remove(&key).unwrap_or_default()
            };
            for deliver in waiting {
                deliver(done.clone());
            }
        });
        if !queued {
            crate::unpoison(self.memo.lock())
                .running
                .remove(&(version, coding));
        }
        queued
    }
}

/// Reads and encodes one version on a worker. `None` if the file is no
/// longer that version (size or times changed while it was read), cannot
/// be read, or does not get smaller.
fn compress_version(found: &Found, coding: Coding) -> Option<Arc<[u8]>> {
    let data: Vec<u8> = match &found.source {
        Source::Bytes(b) => b.to_vec(),
        Source::File(file) => {
            let mut buf = vec![0u8; usize::try_from(found.len).ok()?];
            read_exact_at(file, &mut buf, 0).ok()?;
            let meta = file.metadata().ok()?;
            if crate::files::resolve::identity_of(&meta) != found.identity {
                return None;
            }
            buf
        }
    };
    let out = encode(coding, &data).ok()?;
    (out.len() < data.len()).then(|| out.into())
}

/// What one cache holds for one file: the version, and per encoding its
/// variant, or that it was asked for, or that it cannot be made.
struct Entry {
    identity: (u64, u64, u64, i64, i64),
    slots: [Slot; 3],
    /// When it was last used (a counter), for least-recently-used eviction.
    used: u64,
    bytes: usize,
}

#[derive(Clone)]
enum Slot {
    Unknown,
    Asked,
    Ready(Arc<Found>),
    /// Not made (the file changed under the compressor, or did not get
    /// smaller): served identity.
    Refused,
}

/// One driver's encodings, bounded in bytes.
pub(crate) struct EncodedCache {
    map: HashMap<PathBuf, Entry>,
    bytes: usize,
    budget: usize,
    clock: u64,
}

impl EncodedCache {
    pub(crate) fn new(budget: usize) -> EncodedCache {
        EncodedCache {
            map: HashMap::new(),
            bytes: 0,
            budget,
            clock: 0,
        }
    }

    /// Bytes of encodings held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }

    /// `found` encoded with `coding` if made; otherwise whether to ask for
    /// it (it has not been asked for yet, and this is marked now).
    fn look(&mut self, found: &Found, coding: Coding) -> Result<Arc<Found>, bool> {
        self.clock += 1;
        let clock = self.clock;
        let fresh = || Entry {
            identity: found.identity,
            slots: [Slot::Unknown, Slot::Unknown, Slot::Unknown],
            used: clock,
            bytes: 0,
        };
        // The path is cloned only for a file seen for the first time.
        if !self.map.contains_key(&found.path) {
            if self.map.len() >= MAX_FILES {
                self.drop_least_recent(|_| true);
            }
            self.map.insert(found.path.clone(), fresh());
        }
        let Some(entry) = self.map.get_mut(&found.path) else {
            return Err(false);
        };
        if entry.identity != found.identity {
            // Another version: what was made of the old one goes.
            self.bytes -= entry.bytes;
            *entry = fresh();
        }
        entry.used = clock;
        let slot = &mut entry.slots[coding.index()];
        match slot {
            Slot::Ready(v) => Ok(v.clone()),
            Slot::Unknown => {
                *slot = Slot::Asked;
                Err(true)
            }
            Slot::Asked | Slot::Refused => Err(false),
        }
    }

    /// Records a finished job, if it is still about the version held.
    pub(crate) fn record(&mut self, done: Done) {
        let Some(entry) = self.map.get_mut(&done.version.path) else {
            return;
        };
        if entry.identity != done.version.identity {
            return;
        }
        let slot = &mut entry.slots[done.coding.index()];
        if !matches!(slot, Slot::Asked | Slot::Unknown) {
            return;
        }
        match done.bytes {
            Some(bytes) if bytes.len() <= self.budget => {
                let len = bytes.len();
                *slot = Slot::Ready(Arc::new(variant_of(&done.original, done.coding, bytes)));
                entry.bytes += len;
                self.bytes += len;
                self.evict();
            }
            // Larger than the whole cache: never kept.
            Some(_) => *slot = Slot::Refused,
            None => *slot = Slot::Refused,
        }
    }

    /// Drops least recently used entries until within the budget.
    fn evict(&mut self) {
        while self.bytes > self.budget {
            if !self.drop_least_recent(|e| e.bytes > 0) {
                break;
            }
        }
    }

    /// Drops the least recently used entry of those `which` picks.
    fn drop_least_recent(&mut self, which: impl Fn(&Entry) -> bool) -> bool {
        let oldest = self
            .map
            .iter()
            .filter(|(_, e)| which(e))
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone());
        match oldest.and_then(|k| self.map.remove(&k)) {
            Some(e) => {
                self.bytes -= e.bytes;
                true
            }
            None => false,
        }
    }
}

/// The in-memory variant of `original` encoded with `coding`: its own
/// length, bytes and ETag; the original's type and dates.
fn variant_of(original: &Found, coding: Coding, bytes: Arc<[u8]>) -> Found {
    Found {
        len: bytes.len() as u64,
        source: Source::Bytes(bytes),
        modified: original.modified,
        modified_text: original.modified_text,
        etag: original.etag.encoded(coding.token()),
        mime: original.mime,
        path: original.path.clone(),
        identity: original.identity,
        variants: Variants::default(),
    }
}

/// Encodings as a request sees them: made already, or asked for now.
pub(crate) trait Encodings {
    /// `found` encoded with `coding`, if made; if not, it is asked for
    /// (once) and `None` comes back at once.
    fn get(&mut self, found: &Arc<Found>, coding: Coding) -> Option<Arc<Found>>;

    /// Whether `found` encoded with `coding` is made (nothing is asked).
    fn has(&mut self, found: &Found, coding: Coding) -> bool;
}

/// The encodings made on the fly that a driver's requests see: a cache of
/// variants held by `H` (an event loop's own [`EncodedCache`], or one
/// [`Shared`] by the threaded driver's threads), and the compressor that
/// makes what is missing. Results come back through `deliver`: an event
/// loop's posts them to its mailbox (the loop then calls
/// [`OnTheFly::record`]); the shared one records them straight into the
/// shared cache from the worker.
#[derive(Clone)]
pub(crate) struct OnTheFly<H> {
    cache: H,
    compressor: Arc<Compressor>,
    deliver: Deliver,
    /// Where hits, misses and bytes held are counted (`--metrics`), and as
    /// which loop.
    metrics: Option<(Arc<crate::metrics::Metrics>, usize)>,
}

impl OnTheFly<EncodedCache> {
    /// An event loop's: `deliver` posts a result to the loop, which then
    /// calls [`OnTheFly::record`].
    pub(crate) fn owned(budget: usize, compressor: Arc<Compressor>, deliver: Deliver) -> Self {
        OnTheFly {
            cache: EncodedCache::new(budget),
            compressor,
            deliver,
            metrics: None,
        }
    }
}

impl OnTheFly<Shared<EncodedCache>> {
    /// The threaded driver's: one cache for all threads; workers record
    /// into it directly.
    pub(crate) fn shared(budget: usize, compressor: Arc<Compressor>) -> Self {
        let cache = Shared::new(EncodedCache::new(budget));
        let into = cache.clone();
        OnTheFly {
            cache,
            compressor,
            deliver: Arc::new(move |done| into.lock().record(done)),
            metrics: None,
        }
    }
}

impl<H: Hold<EncodedCache>> OnTheFly<H> {
    /// Counts into loop `index`'s metrics.
    pub(crate) fn count_into(&mut self, metrics: Arc<crate::metrics::Metrics>, index: usize) {
        self.metrics = Some((metrics, index));
    }

    /// Takes a result the workers delivered.
    pub(crate) fn record(&mut self, done: Done) {
        let held = {
            let mut cache = self.cache.hold();
            cache.record(done);
            cache.bytes
        };
        if let Some((m, i)) = &self.metrics {
            m.of(*i).compression_held(held as u64);
        }
    }
}

impl<H: Hold<EncodedCache>> Encodings for OnTheFly<H> {
    fn get(&mut self, found: &Arc<Found>, coding: Coding) -> Option<Arc<Found>> {
        let (looked, held) = {
            let mut cache = self.cache.hold();
            (cache.look(found, coding), cache.bytes)
        };
        if let Some((m, i)) = &self.metrics {
            m.of(*i).compression(looked.is_ok());
            m.of(*i).compression_held(held as u64);
        }
        match looked {
            Ok(v) => Some(v),
            Err(true) => {
                if !self.compressor.request(found, coding, self.deliver.clone()) {
                    // The pool is full: forget the ask, try again later.
                    self.cache.hold().unask(found, coding);
                }
                None
            }
            Err(false) => None,
        }
    }

    fn has(&mut self, found: &Found, coding: Coding) -> bool {
        self.cache.hold().has(found, coding)
    }
}

impl EncodedCache {
    fn has(&self, found: &Found, coding: Coding) -> bool {
        self.map.get(&found.path).is_some_and(|e| {
            e.identity == found.identity && matches!(e.slots[coding.index()], Slot::Ready(_))
        })
    }

    /// Forgets that `coding` of `found` was asked for.
    fn unask(&mut self, found: &Found, coding: Coding) {
        if let Some(e) = self.map.get_mut(&found.path) {
            if e.identity == found.identity {
                e.slots[coding.index()] = Slot::Unknown;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn types() {
        for t in [
            "text/html",
            "text/css",
            "application/javascript",
            "application/json",
            "image/svg+xml",
            "application/wasm",
            "application/xml",
            "font/ttf",
        ] {
            assert!(compressible(t), "{t}");
        }
        for t in [
            "image/png",
            "image/jpeg",
            "video/mp4",
            "audio/mpeg",
            "application/pdf",
            "application/zip",
            "application/gzip",
            "font/woff2",
            "font/woff",
            "application/octet-stream",
        ] {
            assert!(!compressible(t), "{t}");
        }
    }

    #[test]
    fn every_encoding_decodes_to_the_original() {
        let data: Vec<u8> = (0..50_000u32)
            .map(|i| b"<p>lorem ipsum</p>\n"[(i % 19) as usize])
            .collect();
        for coding in Coding::PREFERENCE {
            let out = encode(coding, &data).unwrap();
            assert!(out.len() < data.len() / 10, "{coding:?}: {}", out.len());
            let mut back = Vec::new();
            match coding {
                Coding::Gzip => {
                    flate2::read::GzDecoder::new(&out[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Coding::Br => {
                    brotli::Decompressor::new(&out[..], 4096)
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Coding::Zstd => back = zstd::bulk::decompress(&out, data.len()).unwrap(),
            }
            assert!(back == data, "{coding:?}");
        }
    }

    fn found(path: &str, identity: u64, len: u64) -> Found {
        Found {
            source: Source::Bytes(Arc::from(vec![b'x'; len as usize])),
            len,
            modified: None,
            modified_text: None,
            etag: crate::http::conditional::ETag::from_parts(identity, len, 0),
            mime: "text/plain",
            path: PathBuf::from(path),
            identity: (1, identity, len, 0, 0),
            variants: Variants::default(),
        }
    }

    fn done(f: &Found, coding: Coding, len: usize) -> Done {
        Done {
            version: Version::of(f),
            original: Arc::new(f.clone()),
            coding,
            bytes: Some(Arc::from(vec![b'z'; len])),
        }
    }

    #[test]
    fn the_cache_stays_within_its_budget_dropping_the_least_recently_used() {
        let mut c = EncodedCache::new(10_000);
        let files: Vec<Found> = (0..10)
            .map(|i| found(&format!("/f{i}"), i, 50_000))
            .collect();
        for f in &files {
            assert!(c.look(f, Coding::Br).unwrap_err(), "asked once");
            assert!(!c.look(f, Coding::Br).unwrap_err(), "not twice");
            c.record(done(f, Coding::Br, 3_000));
            assert!(c.bytes() <= 10_000, "{}", c.bytes());
        }
        // Three fit; the most recent are kept.
        assert!(c.look(&files[9], Coding::Br).is_ok());
        assert!(c.look(&files[8], Coding::Br).is_ok());
        assert!(c.look(&files[0], Coding::Br).is_err());
        // A variant larger than the whole budget is never kept.
        let big = found("/big", 99, 500_000);
        let _ = c.look(&big, Coding::Gzip);
        c.record(done(&big, Coding::Gzip, 20_000));
        assert!(c.look(&big, Coding::Gzip).is_err());
        assert!(c.bytes() <= 10_000);
    }

    #[test]
    fn a_new_version_drops_the_old_ones_variants_and_ignores_late_results() {
        let mut c = EncodedCache::new(1 << 20);
        let v1 = found("/a", 1, 5_000);
        let _ = c.look(&v1, Coding::Br);
        c.record(done(&v1, Coding::Br, 1_000));
        let got = c.look(&v1, Coding::Br).unwrap();
        assert_eq!(got.len, 1_000);
        assert!(got.etag.as_bytes().ends_with(b"-br\""));
        // The file changes: the old variant is gone at the first look.
        let v2 = found("/a", 2, 6_000);
        assert!(c.look(&v2, Coding::Br).unwrap_err());
        assert_eq!(c.bytes(), 0);
        // A result for the old version arriving late is not taken.
        c.record(done(&v1, Coding::Br, 1_000));
        assert!(c.look(&v2, Coding::Br).is_err());
        assert_eq!(c.bytes(), 0);
    }
}
