//! The file system's state, kept in memory twice over: what programs see now, and what a disk
//! would still hold after a power cut (the *durable* state). Both start as the backing
//! directory's contents. Data reaches the durable state only by fsync/fdatasync of its file;
//! a directory's entries (creates, renames, unlinks, mkdirs) only by fsync of that directory,
//! which is what POSIX promises and no more: ext4 often persists a new name with the file's own
//! fsync, but a program that relies on that loses data on other file systems.
//!
//! File data is tracked by page: before a write or truncation changes a byte that is durable,
//! the durable page holding it is saved, so a crash can restore it without keeping a second
//! copy of every file (appends, the common case, save nothing).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::Path;

/// The root directory's inode number (FUSE's).
pub const ROOT: u64 = 1;

const PAGE: usize = 4096;

pub type Errno = i32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
}

/// What a crash leaves of the data and names that were not synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// Nothing that was not synced: the strictest power cut.
    DropUnsynced,
    /// A power cut during writeback, from the seed: each file keeps a random prefix of the
    /// bytes it had appended since its last fsync (sometimes as zeros: the size reached the
    /// disk before the data), and each directory keeps either its synced entries or its
    /// current ones.
    Torn(u64),
}

#[derive(Default)]
struct FileNode {
    data: Vec<u8>,
    durable_len: usize,
    /// Durable contents of pages changed since the last fsync (page index → bytes, cut at
    /// `durable_len`).
    saved: HashMap<usize, Vec<u8>>,
}

impl FileNode {
    /// Save the durable pages that bytes `a..b` of `data` overlap, before they change.
    fn touch(&mut self, a: usize, b: usize) {
        let b = b.min(self.durable_len);
        if a >= b {
            return;
        }
        for p in a / PAGE..=(b - 1) / PAGE {
            if !self.saved.contains_key(&p) {
                let end = ((p + 1) * PAGE).min(self.durable_len);
                // Unsaved durable pages are intact in `data`: a truncation below
                // `durable_len` saved every page it cut.
                self.saved.insert(p, self.data[p * PAGE..end].to_vec());
            }
        }
    }

    fn write(&mut self, off: usize, bytes: &[u8]) {
        let end = off + bytes.len();
        self.touch(off, end);
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[off..end].copy_from_slice(bytes);
    }

    fn set_len(&mut self, len: usize) {
        if len < self.data.len() {
            self.touch(len, self.data.len());
        }
        self.data.resize(len, 0);
    }

    fn sync(&mut self) {
        self.durable_len = self.data.len();
        self.saved.clear();
    }

    fn durable(&self) -> Vec<u8> {
        let mut out = vec![0; self.durable_len];
        for (p, chunk) in out.chunks_mut(PAGE).enumerate() {
            let src = match self.saved.get(&p) {
                Some(s) => &s[..],
                None => &self.data[p * PAGE..p * PAGE + chunk.len()],
            };
            chunk.copy_from_slice(src);
        }
        out
    }

    fn unsynced_tail(&self) -> &[u8] {
        self.data.get(self.durable_len..).unwrap_or(&[])
    }
}

#[derive(Default)]
struct DirNode {
    parent: u64,
    entries: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
}

enum Node {
    File(FileNode),
    Dir(DirNode),
}

/// A namespace operation that, once applied, cuts the power (see [`Fs::arm`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A file or directory created with a name ending so.
    Create(String),
    /// A rename to a name ending so.
    Rename(String),
    /// An unlink of a name ending so.
    Unlink(String),
}

struct Armed {
    trigger: Trigger,
    /// Fire at this matching operation (1: the first).
    nth: u32,
    how: Crash,
    backing: std::path::PathBuf,
}

/// Counters, for tests and the tool's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub writes: u64,
    pub bytes_written: u64,
    pub file_syncs: u64,
    pub dir_syncs: u64,
    /// At the crash: bytes of file data and directory entries that were not synced.
    pub lost_bytes: u64,
    pub lost_entries: u64,
}

/// The whole file system. Inodes are never freed: an unlinked file may still be named by its
/// directory's durable entries, and a crash must be able to bring it back.
pub struct Fs {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    /// After a crash (or a clean stop) every operation fails with EIO, as a powered-off disk.
    pub stopped: bool,
    pub stats: Stats,
    armed: Option<Armed>,
    /// What an armed trigger's crash returned.
    pub fired: Option<Result<Stats, String>>,
}

fn ends_with(name: &OsStr, suffix: &str) -> bool {
    name.as_encoded_bytes().ends_with(suffix.as_bytes())
}

fn is_valid_name(name: &OsStr) -> bool {
    !name.is_empty() && name != "." && name != ".."
}

impl Fs {
    /// An empty file system (nothing synced yet but its root).
    pub fn empty() -> Fs {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node::Dir(DirNode {
                parent: ROOT,
                ..DirNode::default()
            }),
        );
        Fs {
            nodes,
            next_ino: ROOT + 1,
            stopped: false,
            stats: Stats::default(),
            armed: None,
            fired: None,
        }
    }

    /// The contents of `backing` (regular files and directories; anything else is refused),
    /// all of it durable.
    pub fn load(backing: &Path) -> io::Result<Fs> {
        let mut fs = Fs::empty();
        fs.load_dir(backing, ROOT)?;
        Ok(fs)
    }

    fn load_dir(&mut self, path: &Path, dir: u64) -> io::Result<()> {
        for e in fs::read_dir(path)? {
            let e = e?;
            let t = e.file_type()?;
            let name = e.file_name();
            let ino = if t.is_dir() {
                let ino = self
                    .mkdir(dir, &name)
                    .map_err(io::Error::from_raw_os_error)?;
                self.load_dir(&e.path(), ino)?;
                ino
            } else if t.is_file() {
                let ino = self
                    .create(dir, &name)
                    .map_err(io::Error::from_raw_os_error)?;
                self.write(ino, 0, &fs::read(e.path())?)
                    .map_err(io::Error::from_raw_os_error)?;
                ino
            } else {
                return Err(io::Error::other(format!(
                    "{}: only files and directories are supported",
                    e.path().display()
                )));
            };
            self.fsync(ino).map_err(io::Error::from_raw_os_error)?;
        }
        self.fsync(dir).map_err(io::Error::from_raw_os_error)?;
        self.stats = Stats::default();
        Ok(())
    }

    fn check(&self) -> Result<(), Errno> {
        if self.stopped {
            Err(libc::EIO)
        } else {
            Ok(())
        }
    }

    fn dir(&self, ino: u64) -> Result<&DirNode, Errno> {
        match self.nodes.get(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut DirNode, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Result<&mut FileNode, Errno> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            Some(Node::Dir(_)) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        self.check()?;
        let d = self.dir(parent)?;
        match name.to_str() {
            Some(".") => Ok(parent),
            Some("..") => Ok(d.parent),
            _ => d.entries.get(name).copied().ok_or(libc::ENOENT),
        }
    }

    /// (kind, size, links) of an inode.
    pub fn attr(&self, ino: u64) -> Result<(Kind, u64, u32), Errno> {
        self.check()?;
        match self.nodes.get(&ino) {
            Some(Node::File(f)) => Ok((Kind::File, f.data.len() as u64, 1)),
            Some(Node::Dir(d)) => Ok((Kind::Dir, 4096, 2 + d.entries.len() as u32)),
            None => Err(libc::ENOENT),
        }
    }

    fn add(&mut self, parent: u64, name: &OsStr, node: Node) -> Result<u64, Errno> {
        self.check()?;
        if !is_valid_name(name) {
            return Err(libc::EINVAL);
        }
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        self.dir_mut(parent)?.entries.insert(name.to_owned(), ino);
        Ok(ino)
    }

    pub fn create(&mut self, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        let ino = self.add(parent, name, Node::File(FileNode::default()))?;
        self.after(|t| matches!(t, Trigger::Create(s) if ends_with(name, s)));
        Ok(ino)
    }

    pub fn mkdir(&mut self, parent: u64, name: &OsStr) -> Result<u64, Errno> {
        let ino = self.add(
            parent,
            name,
            Node::Dir(DirNode {
                parent,
                ..DirNode::default()
            }),
        )?;
        self.after(|t| matches!(t, Trigger::Create(s) if ends_with(name, s)));
        Ok(ino)
    }

    /// Cut the power right after the `nth` operation matching `trigger` is applied (its caller
    /// still sees it succeed, as a program sees a rename the disk never got): the way to place a
    /// crash between two steps of a protocol, e.g. a manifest's rename and its directory's
    /// fsync. The result lands in `fired`.
    pub fn arm(&mut self, trigger: Trigger, nth: u32, how: Crash, backing: &Path) {
        self.fired = None;
        self.armed = Some(Armed {
            trigger,
            nth: nth.max(1),
            how,
            backing: backing.to_path_buf(),
        });
    }

    fn after(&mut self, matches: impl Fn(&Trigger) -> bool) {
        let Some(a) = &mut self.armed else { return };
        if !matches(&a.trigger) {
            return;
        }
        a.nth -= 1;
        if a.nth > 0 {
            return;
        }
        let a = self.armed.take().expect("armed");
        self.fired = Some(self.crash(&a.backing, a.how).map_err(|e| e.to_string()));
    }

    pub fn unlink(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        if let Some(Node::Dir(_)) = self.nodes.get(&ino) {
            return Err(libc::EISDIR);
        }
        self.dir_mut(parent)?.entries.remove(name);
        self.after(|t| matches!(t, Trigger::Unlink(s) if ends_with(name, s)));
        Ok(())
    }

    pub fn rmdir(&mut self, parent: u64, name: &OsStr) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        if !is_valid_name(name) {
            return Err(libc::EINVAL);
        }
        if !self.dir(ino)?.entries.is_empty() {
            return Err(libc::ENOTEMPTY);
        }
        self.dir_mut(parent)?.entries.remove(name);
        Ok(())
    }

    /// rename(2), also across directories; `noreplace` is RENAME_NOREPLACE.
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        noreplace: bool,
    ) -> Result<(), Errno> {
        let ino = self.lookup(parent, name)?;
        if !is_valid_name(name) || !is_valid_name(new_name) {
            return Err(libc::EINVAL);
        }
        if let Some(&old) = self.dir(new_parent)?.entries.get(new_name) {
            if old == ino {
                return Ok(());
            }
            if noreplace {
                return Err(libc::EEXIST);
            }
            match (self.nodes.get(&ino), self.nodes.get(&old)) {
                (Some(Node::File(_)), Some(Node::Dir(_))) => return Err(libc::EISDIR),
                (Some(Node::Dir(_)), Some(Node::File(_))) => return Err(libc::ENOTDIR),
                (_, Some(Node::Dir(d))) if !d.entries.is_empty() => return Err(libc::ENOTEMPTY),
                _ => {}
            }
        }
        if let Some(Node::Dir(_)) = self.nodes.get(&ino) {
            // A directory may not move into itself or below.
            let mut at = new_parent;
            loop {
                if at == ino {
                    return Err(libc::EINVAL);
                }
                if at == ROOT {
                    break;
                }
                at = self.dir(at)?.parent;
            }
            self.dir_mut(ino)?.parent = new_parent;
        }
        self.dir_mut(parent)?.entries.remove(name);
        self.dir_mut(new_parent)?
            .entries
            .insert(new_name.to_owned(), ino);
        self.after(|t| matches!(t, Trigger::Rename(s) if ends_with(new_name, s)));
        Ok(())
    }

    pub fn read(&self, ino: u64, off: u64, size: usize) -> Result<&[u8], Errno> {
        self.check()?;
        match self.nodes.get(&ino) {
            Some(Node::File(f)) => {
                let a = (off as usize).min(f.data.len());
                let b = a.saturating_add(size).min(f.data.len());
                Ok(&f.data[a..b])
            }
            Some(Node::Dir(_)) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    pub fn write(&mut self, ino: u64, off: u64, bytes: &[u8]) -> Result<usize, Errno> {
        self.check()?;
        let off = usize::try_from(off).map_err(|_| libc::EFBIG)?;
        self.file_mut(ino)?.write(off, bytes);
        self.stats.writes += 1;
        self.stats.bytes_written += bytes.len() as u64;
        Ok(bytes.len())
    }

    pub fn set_len(&mut self, ino: u64, len: u64) -> Result<(), Errno> {
        self.check()?;
        let len = usize::try_from(len).map_err(|_| libc::EFBIG)?;
        self.file_mut(ino)?.set_len(len);
        Ok(())
    }

    /// fsync/fdatasync of a file (its data and size), or fsync of a directory (its entries).
    pub fn fsync(&mut self, ino: u64) -> Result<(), Errno> {
        self.check()?;
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => {
                f.sync();
                self.stats.file_syncs += 1;
            }
            Some(Node::Dir(d)) => {
                d.durable = d.entries.clone();
                self.stats.dir_syncs += 1;
            }
            None => return Err(libc::ENOENT),
        }
        Ok(())
    }

    /// A directory's entries now: (name, inode, kind).
    pub fn list(&self, dir: u64) -> Result<Vec<(OsString, u64, Kind)>, Errno> {
        self.check()?;
        let d = self.dir(dir)?;
        Ok(d.entries
            .iter()
            .map(|(n, &ino)| {
                let kind = match self.nodes.get(&ino) {
                    Some(Node::Dir(_)) => Kind::Dir,
                    _ => Kind::File,
                };
                (n.clone(), ino, kind)
            })
            .collect())
    }

    /// Power cut: replace `backing`'s contents by what a disk would hold now, and stop.
    pub fn crash(&mut self, backing: &Path, how: Crash) -> io::Result<Stats> {
        if self.stopped {
            return Err(io::Error::other("already stopped"));
        }
        self.stopped = true;
        let mut rng = match how {
            Crash::DropUnsynced => None,
            Crash::Torn(seed) => Some(Rng(seed | 1)),
        };
        self.count_lost();
        clear_dir(backing)?;
        self.materialize(backing, ROOT, &mut |fs, ino| {
            fs.after_crash(ino, rng.as_mut())
        })?;
        Ok(self.stats)
    }

    /// Clean stop: everything reaches `backing` (as the kernel's writeback would, given time).
    pub fn flush_to(&mut self, backing: &Path) -> io::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        clear_dir(backing)?;
        self.materialize(backing, ROOT, &mut |_, _| Choice::Current)
    }

    fn count_lost(&mut self) {
        let (mut bytes, mut entries) = (0u64, 0u64);
        for n in self.nodes.values() {
            match n {
                Node::File(f) => {
                    bytes += f.unsynced_tail().len() as u64
                        + f.saved.values().map(|p| p.len() as u64).sum::<u64>()
                }
                Node::Dir(d) => {
                    entries += d
                        .entries
                        .iter()
                        .filter(|(k, v)| d.durable.get(*k) != Some(v))
                        .count() as u64
                        + d.durable
                            .keys()
                            .filter(|k| !d.entries.contains_key(*k))
                            .count() as u64
                }
            }
        }
        self.stats.lost_bytes = bytes;
        self.stats.lost_entries = entries;
    }

    fn after_crash(&self, ino: u64, rng: Option<&mut Rng>) -> Choice {
        let Some(rng) = rng else {
            return Choice::Durable;
        };
        match self.nodes.get(&ino) {
            Some(Node::Dir(_)) => {
                if rng.next() % 2 == 0 {
                    Choice::Current
                } else {
                    Choice::Durable
                }
            }
            Some(Node::File(f)) => {
                let tail = f.unsynced_tail().len();
                let keep = (rng.next() % (tail as u64 + 1)) as usize;
                let zeros_from = if rng.next() % 4 == 0 {
                    (rng.next() % (keep as u64 + 1)) as usize
                } else {
                    keep
                };
                Choice::Torn { keep, zeros_from }
            }
            None => Choice::Durable,
        }
    }

    /// Write directory `dir` into `path`, each inode as `choose` says.
    fn materialize(
        &self,
        path: &Path,
        dir: u64,
        choose: &mut dyn FnMut(&Fs, u64) -> Choice,
    ) -> io::Result<()> {
        let Some(Node::Dir(d)) = self.nodes.get(&dir) else {
            return Ok(());
        };
        let entries = match choose(self, dir) {
            Choice::Current => &d.entries,
            _ => &d.durable,
        };
        for (name, &ino) in entries {
            let p = path.join(name);
            match self.nodes.get(&ino) {
                Some(Node::Dir(_)) => {
                    fs::create_dir(&p)?;
                    self.materialize(&p, ino, choose)?;
                }
                Some(Node::File(f)) => {
                    let bytes = match choose(self, ino) {
                        Choice::Current => f.data.clone(),
                        Choice::Durable => f.durable(),
                        Choice::Torn { keep, zeros_from } => {
                            let mut b = f.durable();
                            let tail = &f.unsynced_tail()[..keep];
                            b.extend_from_slice(&tail[..zeros_from]);
                            b.resize(b.len() + keep - zeros_from, 0);
                            b
                        }
                    };
                    fs::write(&p, bytes)?;
                }
                None => {}
            }
        }
        Ok(())
    }
}

enum Choice {
    Current,
    Durable,
    Torn { keep: usize, zeros_from: usize },
}

fn clear_dir(path: &Path) -> io::Result<()> {
    for e in fs::read_dir(path)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            fs::remove_dir_all(e.path())?;
        } else {
            fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// xorshift64: torn crashes reproducible from their seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    /// A backing directory for one test, removed on drop.
    struct Backing(std::path::PathBuf);
    impl Backing {
        fn new(tag: &str) -> Backing {
            let p = std::env::temp_dir().join(format!("lazyfs-model-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            Backing(p)
        }
        fn read(&self, rel: &str) -> Option<Vec<u8>> {
            fs::read(self.0.join(rel)).ok()
        }
        fn names(&self, rel: &str) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(self.0.join(rel))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        }
    }
    impl Drop for Backing {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// A file `f` in the root, created and named durably, holding `data` synced.
    fn synced_file(fs: &mut Fs, f: &str, data: &[u8]) -> u64 {
        let ino = fs.create(ROOT, name(f)).unwrap();
        fs.write(ino, 0, data).unwrap();
        fs.fsync(ino).unwrap();
        fs.fsync(ROOT).unwrap();
        ino
    }

    #[test]
    fn write_without_fsync_is_lost_and_fsynced_data_is_kept() {
        let b = Backing::new("write");
        let mut fs = Fs::empty();
        let ino = synced_file(&mut fs, "log", b"kept\n");
        fs.write(ino, 5, b"lost\n").unwrap();
        assert_eq!(fs.read(ino, 0, 100).unwrap(), b"kept\nlost\n");
        let st = fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.read("log").unwrap(), b"kept\n");
        assert_eq!(st.lost_bytes, 5);
        assert_eq!(
            fs.write(ino, 0, b"x"),
            Err(libc::EIO),
            "a crashed disk takes nothing"
        );
    }

    #[test]
    fn overwrite_and_truncate_of_synced_bytes_are_undone() {
        let b = Backing::new("overwrite");
        let mut fs = Fs::empty();
        let big: Vec<u8> = (0..3 * PAGE + 100).map(|i| (i % 251) as u8).collect();
        let ino = synced_file(&mut fs, "f", &big);
        fs.write(ino, PAGE as u64 - 2, b"XXXX").unwrap();
        fs.set_len(ino, 10).unwrap();
        fs.write(ino, 2 * PAGE as u64, b"YY").unwrap();
        assert_eq!(fs.attr(ino).unwrap().1, 2 * PAGE as u64 + 2);
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.read("f").unwrap(), big);
    }

    #[test]
    fn synced_after_changes_is_the_new_content() {
        let b = Backing::new("resync");
        let mut fs = Fs::empty();
        let ino = synced_file(&mut fs, "f", &[7; 3 * PAGE]);
        fs.set_len(ino, 5).unwrap();
        fs.write(ino, 5, b"abc").unwrap();
        fs.fsync(ino).unwrap();
        fs.write(ino, 0, b"zz").unwrap();
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.read("f").unwrap(), b"\x07\x07\x07\x07\x07abc");
    }

    #[test]
    fn a_new_file_needs_its_directory_synced() {
        let b = Backing::new("create");
        let mut fs = Fs::empty();
        let ino = fs.create(ROOT, name("new")).unwrap();
        fs.write(ino, 0, b"data").unwrap();
        fs.fsync(ino).unwrap();
        fs.mkdir(ROOT, name("d")).unwrap();
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert!(b.names("").is_empty(), "{:?}", b.names(""));
    }

    #[test]
    fn rename_without_directory_fsync_is_lost() {
        let b = Backing::new("rename");
        let mut fs = Fs::empty();
        synced_file(&mut fs, "manifest", b"old");
        let tmp = fs.create(ROOT, name("temp")).unwrap();
        fs.write(tmp, 0, b"new").unwrap();
        fs.fsync(tmp).unwrap();
        fs.rename(ROOT, name("temp"), ROOT, name("manifest"), false)
            .unwrap();
        let now = fs.lookup(ROOT, name("manifest")).unwrap();
        assert_eq!(fs.read(now, 0, 10).unwrap(), b"new");
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.names(""), ["manifest"]);
        assert_eq!(b.read("manifest").unwrap(), b"old");
    }

    #[test]
    fn rename_with_directory_fsync_is_kept() {
        let b = Backing::new("rename-sync");
        let mut fs = Fs::empty();
        synced_file(&mut fs, "manifest", b"old");
        let tmp = fs.create(ROOT, name("temp")).unwrap();
        fs.write(tmp, 0, b"new").unwrap();
        fs.fsync(tmp).unwrap();
        fs.rename(ROOT, name("temp"), ROOT, name("manifest"), false)
            .unwrap();
        fs.fsync(ROOT).unwrap();
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.names(""), ["manifest"]);
        assert_eq!(b.read("manifest").unwrap(), b"new");
    }

    #[test]
    fn rename_of_an_unsynced_file_keeps_the_name_but_not_the_data() {
        let b = Backing::new("rename-nodata");
        let mut fs = Fs::empty();
        let tmp = fs.create(ROOT, name("temp")).unwrap();
        fs.write(tmp, 0, b"never synced").unwrap();
        fs.rename(ROOT, name("temp"), ROOT, name("manifest"), false)
            .unwrap();
        fs.fsync(ROOT).unwrap();
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.read("manifest").unwrap(), b"");
    }

    #[test]
    fn unlink_without_directory_fsync_comes_back() {
        let b = Backing::new("unlink");
        let mut fs = Fs::empty();
        synced_file(&mut fs, "old.aof", b"records");
        fs.unlink(ROOT, name("old.aof")).unwrap();
        assert_eq!(fs.lookup(ROOT, name("old.aof")), Err(libc::ENOENT));
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.read("old.aof").unwrap(), b"records");
    }

    #[test]
    fn subdirectory_needs_its_parent_synced() {
        let b = Backing::new("subdir");
        for sync_parent in [false, true] {
            let mut fs = Fs::empty();
            let d = fs.mkdir(ROOT, name("appendonlydir")).unwrap();
            let f = fs.create(d, name("log")).unwrap();
            fs.write(f, 0, b"x").unwrap();
            fs.fsync(f).unwrap();
            fs.fsync(d).unwrap();
            if sync_parent {
                fs.fsync(ROOT).unwrap();
            }
            fs.crash(&b.0, Crash::DropUnsynced).unwrap();
            let got = b.read("appendonlydir/log");
            assert_eq!(got.is_some(), sync_parent, "{got:?}");
        }
        assert_eq!(b.read("appendonlydir/log").unwrap(), b"x");
    }

    #[test]
    fn torn_crash_keeps_a_prefix_of_the_unsynced_tail() {
        let mut kept = std::collections::HashSet::new();
        for seed in 0..40 {
            let b = Backing::new(&format!("torn{seed}"));
            let mut fs = Fs::empty();
            let ino = synced_file(&mut fs, "log", b"synced|");
            fs.write(ino, 7, b"0123456789").unwrap();
            fs.crash(&b.0, Crash::Torn(seed)).unwrap();
            let got = b.read("log").unwrap();
            assert!(got.starts_with(b"synced|") && got.len() <= 17, "{got:?}");
            let tail = &got[7..];
            let zeros = tail.iter().position(|&c| c == 0).unwrap_or(tail.len());
            assert_eq!(&tail[..zeros], &b"0123456789"[..zeros], "{got:?}");
            assert!(tail[zeros..].iter().all(|&c| c == 0), "{got:?}");
            kept.insert(got.len());
        }
        assert!(kept.len() > 3, "the seeds give different cuts: {kept:?}");
    }

    #[test]
    fn an_armed_trigger_cuts_right_after_its_operation() {
        let b = Backing::new("armed");
        let mut fs = Fs::empty();
        synced_file(&mut fs, "m.manifest", b"old");
        fs.arm(
            Trigger::Rename(".manifest".into()),
            2,
            Crash::DropUnsynced,
            &b.0,
        );
        for round in 0..2 {
            let t = fs.create(ROOT, name("temp")).unwrap();
            fs.write(t, 0, format!("new{round}").as_bytes()).unwrap();
            fs.fsync(t).unwrap();
            fs.rename(ROOT, name("temp"), ROOT, name("m.manifest"), false)
                .unwrap();
            assert_eq!(fs.fired.is_some(), round == 1, "fires at the 2nd rename");
            if round == 0 {
                fs.fsync(ROOT).unwrap();
            }
        }
        assert_eq!(fs.fsync(ROOT), Err(libc::EIO), "nothing after the cut");
        assert!(matches!(fs.fired, Some(Ok(_))));
        assert_eq!(b.read("m.manifest").unwrap(), b"new0");
    }

    #[test]
    fn load_reads_the_backing_directory_as_durable() {
        let b = Backing::new("load");
        fs::create_dir(b.0.join("d")).unwrap();
        fs::write(b.0.join("d/f"), b"on disk").unwrap();
        let mut fs = Fs::load(&b.0).unwrap();
        let d = fs.lookup(ROOT, name("d")).unwrap();
        let f = fs.lookup(d, name("f")).unwrap();
        fs.write(f, 0, b"changed").unwrap();
        fs.unlink(d, name("f")).unwrap();
        fs.crash(&b.0, Crash::DropUnsynced).unwrap();
        assert_eq!(b.read("d/f").unwrap(), b"on disk");
    }
}
