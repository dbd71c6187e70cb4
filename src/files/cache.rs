//! A cache of resolved files, so the common request costs no file system
//! call at all.
//!
//! It maps the raw path of a request target (before `?`) to what
//! [`resolve_with`] found for it. Small files keep their whole content in memory
//! (shared, sent without copying); larger ones keep an open descriptor
//! (shared: sendfile and positioned reads never move a file position).
//!
//! An entry is trusted for at most [`REVALIDATE`]; after that the next
//! request resolves the path afresh (all of `resolve`'s checks: under the
//! root, symlinks, permissions) and compares the file's identity (device,
//! inode, size, modification time, canonical path). Anything different
//! replaces the entry, so a changed, replaced, removed or newly forbidden
//! file is noticed within a second. Only successful lookups are cached;
//! errors and redirects are resolved every time.
//!
//! Bounded in entries, in content bytes and in open descriptors; past a
//! bound, older entries make room.

use std::collections::HashMap;
use std::sync::Arc;

use crate::hold::{Hold, Shared};
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use crate::files::listing;
use crate::files::resolve::{Found, Lookup, Resolution, Source, Variants, resolve_with};
use crate::http::response::Status;

/// How long a cached lookup is trusted before the file is looked at again.
pub(crate) const REVALIDATE: Duration = Duration::from_secs(1);
/// Most paths cached.
pub(crate) const MAX_ENTRIES: usize = 1024;
/// Largest file whose content is held in memory. Larger files keep a
/// descriptor and go out with sendfile, which copies nothing: measured on
/// a 40 KB file, cheaper than a writev from memory.
pub(crate) const MAX_IN_MEMORY: u64 = 16 * 1024;
/// Most content bytes held in memory in all.
pub(crate) const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Most open descriptors held for larger files.
pub(crate) const MAX_DESCRIPTORS: usize = 64;

/// Most rendered directory listings kept.
pub(crate) const MAX_LISTINGS: usize = 32;

/// Something that finds the file for a request target.
pub(crate) trait FileSource {
    fn find(
        &mut self,
        lookup: &Lookup<'_>,
        target: &[u8],
        now: Instant,
    ) -> Result<Resolution, Status>;

    /// A directory's listing, rendered ([`listing::render`]).
    fn listing(
        &mut self,
        lookup: &Lookup<'_>,
        ask: ListingAsk<'_>,
        now: Instant,
    ) -> std::io::Result<Arc<[u8]>> {
        let _ = now;
        ask.render(lookup)
    }
}

/// Which listing: of the canonical directory `dir`, asked for as `path`,
/// as JSON or HTML, in which order, on a site whose base path is `base`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListingAsk<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) path: &'a [u8],
    pub(crate) json: bool,
    pub(crate) sort: listing::Sort,
    pub(crate) base: &'a [u8],
}

impl ListingAsk<'_> {
    fn render(&self, lookup: &Lookup<'_>) -> std::io::Result<Arc<[u8]>> {
        listing::render(lookup, self.dir, self.path, self.json, self.sort, self.base).map(Arc::from)
    }
}

/// No cache: every request resolves afresh (`--no-file-cache`).
pub(crate) struct Uncached;

impl FileSource for Uncached {
    fn find(
        &mut self,
        lookup: &Lookup<'_>,
        target: &[u8],
        _now: Instant,
    ) -> Result<Resolution, Status> {
        resolve_with(lookup, target)
    }
}

struct Entry {
    found: Arc<Found>,
    checked: Instant,
}

/// A rendered listing: of which directory, and when it was read.
struct ListingEntry {
    dir: PathBuf,
    body: Arc<[u8]>,
    checked: Instant,
}

/// Rendered listings by request path and format (`true`: JSON).
type Listings = HashMap<(Box<[u8]>, bool, listing::Sort), ListingEntry>;

/// The cache of one event loop.
#[derive(Default)]
pub(crate) struct FileCache {
    /// [`CHANGES`] when this cache was last emptied.
    seen: u64,
    map: HashMap<Box<[u8]>, Entry>,
    listings: Listings,
    bytes: usize,
    descriptors: usize,
    /// Where hits and misses are counted (`--metrics`), and as which loop.
    metrics: Option<(Arc<crate::metrics::Metrics>, usize)>,
}

/// Bumped by every upload stored ([`changed`]): each cache empties itself
/// when it sees a new value, so a file just uploaded (or replaced), and
/// the listing of its folder, are never hidden by what was cached before.
static CHANGES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Files under the root changed (an upload was stored): every cache, in
/// every driver, forgets what it holds before its next lookup.
pub(crate) fn changed() {
    CHANGES.fetch_add(1, std::sync::atomic::Ordering::Release);
}

impl FileCache {
    pub(crate) fn new() -> FileCache {
        FileCache::default()
    }

    /// Empties the cache if an upload was stored since it last looked.
    fn sync(&mut self) {
        let now = CHANGES.load(std::sync::atomic::Ordering::Acquire);
        if now != self.seen {
            self.seen = now;
            self.map.clear();
            self.listings.clear();
            self.bytes = 0;
            self.descriptors = 0;
        }
    }

    /// Counts hits and misses into loop `index`'s metrics.
    pub(crate) fn count_into(&mut self, metrics: Arc<crate::metrics::Metrics>, index: usize) {
        self.metrics = Some((metrics, index));
    }

    fn count(&self, hit: bool) {
        if let Some((m, i)) = &self.metrics {
            m.of(*i).file_cache(hit);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(e) = self.map.remove(key) {
            self.forget(&e.found);
        }
    }

    fn forget(&mut self, found: &Found) {
        let (bytes, descriptors) = cost(found);
        self.bytes -= bytes;
        self.descriptors -= descriptors;
    }

    /// Makes room for one more entry of `bytes` content and `descriptors`
    /// open files.
    fn make_room(&mut self, bytes: usize, descriptors: usize) {
        while !self.map.is_empty()
            && (self.map.len() >= MAX_ENTRIES
                || self.bytes + bytes > MAX_BYTES
                || (descriptors > 0 && self.descriptors + descriptors > MAX_DESCRIPTORS))
        {
            // The entry checked longest ago goes first.
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.checked)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => self.remove(&k),
                None => break,
            }
        }
    }

    /// Caches a fresh lookup; small files are read into memory now.
    fn insert(&mut self, key: &[u8], found: Arc<Found>, now: Instant) -> Arc<Found> {
        let Some(found) = load(found.clone()) else {
            return found; // changed under us: serve it uncached
        };
        let (bytes, descriptors) = cost(&found);
        if bytes > MAX_BYTES || descriptors > MAX_DESCRIPTORS {
            return found;
        }
        self.make_room(bytes, descriptors);
        self.bytes += bytes;
        self.descriptors += descriptors;
        self.map.insert(
            key.into(),
            Entry {
                found: found.clone(),
                checked: now,
            },
        );
        found
    }
}

/// Content bytes held in memory and descriptors held open by `found` and
/// its variants.
fn cost(found: &Found) -> (usize, usize) {
    let own = match &found.source {
        Source::Bytes(b) => (b.len(), 0),
        Source::File(_) => (0, 1),
    };
    [&found.variants.br, &found.variants.gzip]
        .into_iter()
        .flatten()
        .map(|v| cost(v))
        .fold(own, |(b, d), (vb, vd)| (b + vb, d + vd))
}

/// `found` with small files (itself and its variants) read into memory;
/// `None` if a file changed while being read.
fn load(found: Arc<Found>) -> Option<Arc<Found>> {
    let small = |f: &Found| matches!(f.source, Source::File(_)) && f.len <= MAX_IN_MEMORY;
    let variant_small = |v: &Option<Arc<Found>>| v.as_deref().is_some_and(small);
    if !small(&found) && !variant_small(&found.variants.br) && !variant_small(&found.variants.gzip)
    {
        return Some(found);
    }
    let mut owned = Arc::unwrap_or_clone(found);
    if let (Source::File(file), true) = (&owned.source, owned.len <= MAX_IN_MEMORY) {
        let mut content = vec![0u8; owned.len as usize];
        crate::files::body::read_exact_at(file, &mut content, 0).ok()?;
        owned.source = Source::Bytes(content.into());
    }
    let variants = std::mem::take(&mut owned.variants);
    let load_variant = |v: Option<Arc<Found>>| match v {
        None => Some(None),
        Some(v) => load(v).map(Some),
    };
    owned.variants = Variants {
        br: load_variant(variants.br)?,
        gzip: load_variant(variants.gzip)?,
    };
    Some(Arc::new(owned))
}

/// What a target is cached by: its path (no query, scheme or authority).
/// `None`: not cached (asterisk-form, unusable targets).
fn cache_key(target: &[u8]) -> Option<&[u8]> {
    match crate::http::target::parse(target) {
        Some(crate::http::target::Target::Path { path, .. }) => Some(path),
        _ => None,
    }
}

impl FileCache {
    /// The cached lookup of `key` if it is still trusted at `now`;
    /// otherwise the stale one, if any, to compare a fresh lookup with.
    fn get(&self, key: &[u8], now: Instant) -> Result<Arc<Found>, Option<Arc<Found>>> {
        match self.map.get(key) {
            Some(e) if now.saturating_duration_since(e.checked) < REVALIDATE => Ok(e.found.clone()),
            Some(e) => Err(Some(e.found.clone())),
            None => Err(None),
        }
    }

    /// Records a fresh lookup of `key`: a file that is still the cached
    /// one is trusted for another second; anything else replaces it.
    /// `fresh` files should already be loaded ([`load`]) by the caller,
    /// so no file is read here.
    fn record(
        &mut self,
        key: &[u8],
        fresh: Result<Resolution, Status>,
        now: Instant,
    ) -> Result<Resolution, Status> {
        if let Some(entry) = self.map.get_mut(key) {
            match &fresh {
                Ok(Resolution::File(f)) if f.same_as(&entry.found) => {
                    entry.checked = now;
                    return Ok(Resolution::File(entry.found.clone()));
                }
                _ => self.remove(key),
            }
        }
        match fresh {
            Ok(Resolution::File(found)) => Ok(Resolution::File(self.insert(key, found, now))),
            other => other,
        }
    }
}

/// Resolves `target` afresh, with small files read into memory unless it
/// is still the `stale` entry (which already holds them): the file system
/// work of a cache miss, done outside any lock.
fn resolve_fresh(
    lookup: &Lookup<'_>,
    target: &[u8],
    stale: Option<&Arc<Found>>,
) -> Result<Resolution, Status> {
    match resolve_with(lookup, target) {
        Ok(Resolution::File(f)) if stale.is_some_and(|s| f.same_as(s)) => Ok(Resolution::File(f)),
        Ok(Resolution::File(f)) => Ok(Resolution::File(load(f.clone()).unwrap_or(f))),
        other => other,
    }
}

/// Both caches find files the same way: an event loop's own, and the one
/// the threaded driver's threads share (held only to look an entry up and
/// to record one: resolving and reading a file on a miss happen outside
/// the lock, so one slow lookup never holds up every other thread).
impl<H: Hold<FileCache>> FileSource for H {
    fn find(
        &mut self,
        lookup: &Lookup<'_>,
        target: &[u8],
        now: Instant,
    ) -> Result<Resolution, Status> {
        let Some(path) = cache_key(target) else {
            return resolve_with(lookup, target);
        };
        // A virtual host's keys are its number (after a NUL, which no path
        // starts with) and the path: on the stack when short.
        let mut buf = [0u8; 256];
        let long;
        let key: &[u8] = match lookup.site {
            0 => path,
            site => {
                let [hi, lo] = site.to_be_bytes();
                let n = path.len() + 3;
                if let Some(k) = buf.get_mut(..n) {
                    k[..3].copy_from_slice(&[0, hi, lo]);
                    k[3..].copy_from_slice(path);
                    &buf[..n]
                } else {
                    long = [&[0, hi, lo][..], path].concat();
                    &long
                }
            }
        };
        let looked = {
            let mut cache = self.hold();
            cache.sync();
            let looked = cache.get(key, now);
            cache.count(looked.is_ok());
            looked
        };
        let stale = match looked {
            Ok(found) => return Ok(Resolution::File(found)),
            Err(stale) => stale,
        };
        // The file system work of a miss, with the cache let go.
        let fresh = resolve_fresh(lookup, target, stale.as_ref());
        self.hold().record(key, fresh, now)
    }

    fn listing(
        &mut self,
        lookup: &Lookup<'_>,
        ask: ListingAsk<'_>,
        now: Instant,
    ) -> std::io::Result<Arc<[u8]>> {
        let cached = {
            let mut cache = self.hold();
            cache.sync();
            fresh_listing(&cache.listings, ask, now)
        };
        if let Some(body) = cached {
            return Ok(body);
        }
        let body = ask.render(lookup)?;
        record_listing(&mut self.hold().listings, ask, body.clone(), now);
        Ok(body)
    }
}

/// A listing of `dir` for `path` read less than [`REVALIDATE`] ago.
fn fresh_listing(listings: &Listings, ask: ListingAsk<'_>, now: Instant) -> Option<Arc<[u8]>> {
    let key = (Box::<[u8]>::from(ask.path), ask.json, ask.sort);
    listings
        .get(&key)
        .filter(|e| e.dir == ask.dir && now.saturating_duration_since(e.checked) < REVALIDATE)
        .map(|e| e.body.clone())
}

fn record_listing(listings: &mut Listings, ask: ListingAsk<'_>, body: Arc<[u8]>, now: Instant) {
    if listings.len() >= MAX_LISTINGS {
        let oldest = listings
            .iter()
            .min_by_key(|(_, e)| e.checked)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            listings.remove(&k);
        }
    }
    listings.insert(
        (ask.path.into(), ask.json, ask.sort),
        ListingEntry {
            dir: ask.dir.to_path_buf(),
            body,
            checked: now,
        },
    );
}

/// One cache shared by the threaded driver's threads.
pub(crate) type SharedCache = Shared<FileCache>;

#[cfg(test)]
mod tests {
    use super::*;

    struct Root(std::path::PathBuf);
    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn root(tag: &str) -> Root {
        let p = std::env::temp_dir().join(format!("skiff-cache-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Root(std::fs::canonicalize(&p).unwrap())
    }

    fn ask<'a>(dir: &'a Path, path: &'a [u8], json: bool) -> ListingAsk<'a> {
        ListingAsk {
            dir,
            path,
            json,
            sort: listing::Sort::default(),
            base: b"",
        }
    }

    /// A root holding one file, an empty cache and a start time.
    fn start(tag: &str, file: &str, content: &str) -> (Root, FileCache, Instant) {
        let r = root(tag);
        std::fs::write(r.0.join(file), content).unwrap();
        (r, FileCache::new(), Instant::now())
    }

    fn bytes(r: Result<Resolution, Status>) -> Vec<u8> {
        match r {
            Ok(Resolution::File(f)) => match &f.source {
                Source::Bytes(b) => b.to_vec(),
                Source::File(file) => {
                    let mut v = vec![0; f.len as usize];
                    crate::files::body::read_exact_at(file, &mut v, 0).unwrap();
                    v
                }
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn serves_from_memory_until_revalidation_notices_a_change() {
        let r = root("change");
        std::fs::write(r.0.join("a.txt"), "one").unwrap();
        let mut c = FileCache::new();
        let t0 = Instant::now();
        assert_eq!(bytes(c.find(&Lookup::new(&r.0), b"/a.txt?x", t0)), b"one");
        assert_eq!(c.len(), 1);
        std::thread::sleep(Duration::from_millis(5));
        std::fs::write(r.0.join("a.txt"), "two!").unwrap();
        // Within the second: the cached copy.
        assert_eq!(
            bytes(c.find(
                &Lookup::new(&r.0),
                b"/a.txt",
                t0 + Duration::from_millis(500)
            )),
            b"one"
        );
        // After it: noticed.
        assert_eq!(
            bytes(c.find(&Lookup::new(&r.0), b"/a.txt", t0 + REVALIDATE)),
            b"two!"
        );
        // A removed file is noticed too, and leaves the cache.
        std::fs::remove_file(r.0.join("a.txt")).unwrap();
        assert!(matches!(
            c.find(&Lookup::new(&r.0), b"/a.txt", t0 + REVALIDATE * 3),
            Err(Status::NotFound)
        ));
        assert!(c.is_empty());
    }

    #[test]
    fn large_files_keep_a_descriptor_not_their_content() {
        let r = root("large");
        std::fs::write(r.0.join("big.bin"), vec![7u8; MAX_IN_MEMORY as usize + 1]).unwrap();
        let mut c = FileCache::new();
        match c.find(&Lookup::new(&r.0), b"/big.bin", Instant::now()) {
            Ok(Resolution::File(f)) => assert!(matches!(f.source, Source::File(_))),
            other => panic!("{other:?}"),
        }
        assert_eq!((c.bytes, c.descriptors), (0, 1));
    }

    #[test]
    fn bounded_in_entries() {
        let r = root("bound");
        let mut c = FileCache::new();
        let now = Instant::now();
        for i in 0..MAX_ENTRIES + 10 {
            std::fs::write(r.0.join(format!("f{i}")), "x").unwrap();
            c.find(&Lookup::new(&r.0), format!("/f{i}").as_bytes(), now)
                .unwrap();
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        assert_eq!(c.bytes, MAX_ENTRIES);
    }

    #[test]
    fn variants_are_cached_with_their_file_and_revalidated_with_it() {
        let (r, mut c, t0) = start("variants", "a.js", "plain");
        let lookup = Lookup {
            precompressed: true,
            ..Lookup::new(&r.0)
        };
        let variants = |c: &mut FileCache, t| match c.find(&lookup, b"/a.js", t) {
            Ok(Resolution::File(f)) => (f.variants.br.is_some(), f.variants.gzip.is_some()),
            other => panic!("{other:?}"),
        };
        assert_eq!(variants(&mut c, t0), (false, false));
        std::fs::write(r.0.join("a.js.gz"), "gz!").unwrap();
        // Trusted for a second, then the new variant is noticed, and its
        // bytes are held in memory like the file's.
        assert_eq!(variants(&mut c, t0 + REVALIDATE / 2), (false, false));
        assert_eq!(variants(&mut c, t0 + REVALIDATE), (false, true));
        assert_eq!((c.bytes, c.descriptors), (5 + 3, 0));
        std::fs::remove_file(r.0.join("a.js.gz")).unwrap();
        assert_eq!(variants(&mut c, t0 + REVALIDATE * 2), (false, false));
        assert_eq!((c.bytes, c.descriptors), (5, 0));
    }

    #[test]
    fn listings_are_read_at_most_once_a_second() {
        let (r, mut c, t0) = start("listing", "one.txt", "1");
        let lookup = Lookup {
            list_dirs: true,
            ..Lookup::new(&r.0)
        };
        let html = |c: &mut FileCache, t| {
            let body = c.listing(&lookup, ask(&r.0, b"/", false), t).unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        };
        let first = html(&mut c, t0);
        assert!(first.contains("one.txt"));
        std::fs::write(r.0.join("two.txt"), "2").unwrap();
        // Within the second: the same rendered bytes, shared.
        assert_eq!(html(&mut c, t0 + REVALIDATE / 2), first);
        let a = c.listing(&lookup, ask(&r.0, b"/", false), t0).unwrap();
        let b = c.listing(&lookup, ask(&r.0, b"/", false), t0).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        // JSON is its own entry.
        let json = c
            .listing(&lookup, ask(&r.0, b"/", true), t0 + REVALIDATE / 2)
            .unwrap();
        assert!(json.starts_with(b"{"));
        // After it, the new file shows.
        assert!(html(&mut c, t0 + REVALIDATE).contains("two.txt"));
        // Bounded.
        for i in 0..MAX_LISTINGS + 5 {
            c.listing(&lookup, ask(&r.0, format!("/p{i}").as_bytes(), false), t0)
                .unwrap();
        }
        assert_eq!(c.listings.len(), MAX_LISTINGS);
    }

    #[test]
    fn errors_are_not_cached() {
        let r = root("errors");
        let mut c = FileCache::new();
        assert!(matches!(
            c.find(&Lookup::new(&r.0), b"/nope", Instant::now()),
            Err(Status::NotFound)
        ));
        assert!(c.is_empty());
        std::fs::write(r.0.join("nope"), "now").unwrap();
        assert_eq!(
            bytes(c.find(&Lookup::new(&r.0), b"/nope", Instant::now())),
            b"now"
        );
    }
}
