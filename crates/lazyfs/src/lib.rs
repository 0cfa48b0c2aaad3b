//! A FUSE file system for power-loss tests (the idea of Jepsen's lazyfs). It serves a copy of a
//! backing directory from memory; what programs write stays there until they fsync it (file
//! data) or fsync its directory (creates, renames, unlinks), and [`Mounted::crash`] writes into
//! the backing directory exactly what a disk would hold after a power cut at that instant.
//!
//! A SIGKILL cannot tell fsync from write(2): the killed process's writes sit in the kernel's
//! page cache and reach the disk anyway. Only a file system that forgets can.
//!
//! ```text
//! mount(backing, mnt) ─▶ backing read into memory, all durable
//! programs use mnt   ─▶ write/truncate: current state only
//!                       fsync(file): its data and size durable; fsync(dir): its entries durable
//! crash()            ─▶ every later request fails with EIO; backing := durable state
//! unmount()          ─▶ (no crash) backing := current state; lazy unmount
//! ```
#![forbid(unsafe_code)]

mod fuse;
pub mod model;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use model::{Crash, Fs, Stats, Trigger};

/// A mounted lazy file system; lazily unmounted on drop (also when a test panics).
pub struct Mounted {
    fs: Arc<Mutex<Fs>>,
    backing: PathBuf,
    mountpoint: PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl Mounted {
    /// Serve `backing`'s contents at `mountpoint` (an existing directory). Fails if FUSE is
    /// unusable here (no /dev/fuse, not root and no fusermount, ...).
    pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Mounted> {
        let fs = Arc::new(Mutex::new(Fs::load(backing)?));
        let session = fuser::spawn_mount2(
            fuse::LazyFuse {
                fs: Arc::clone(&fs),
            },
            mountpoint,
            &[
                fuser::MountOption::FSName("lazyfs".into()),
                fuser::MountOption::Subtype("lazyfs".into()),
            ],
        )
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot mount lazyfs at {}: {e}", mountpoint.display()),
            )
        })?;
        let m = Mounted {
            fs,
            backing: backing.to_path_buf(),
            mountpoint: mountpoint.to_path_buf(),
            session: Some(session),
        };
        // A mount that silently did not happen would turn every power-loss test into a test of
        // the plain disk: make sure the kernel lists it.
        if !is_mounted(mountpoint)? {
            return Err(io::Error::other(format!(
                "lazyfs: {} is not a FUSE mount after mounting",
                mountpoint.display()
            )));
        }
        Ok(m)
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    fn lock(&self) -> MutexGuard<'_, Fs> {
        self.fs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Power cut: from now on every request fails with EIO, and the backing directory holds
    /// what was synced (or, `Crash::Torn`, a seeded part of what was not).
    pub fn crash(&self, how: Crash) -> io::Result<Stats> {
        self.lock().crash(&self.backing, how)
    }

    /// Cut the power right after the `nth` operation matching `trigger` (see [`Fs::arm`]).
    pub fn crash_at(&self, trigger: Trigger, nth: u32, how: Crash) {
        self.lock().arm(trigger, nth, how, &self.backing)
    }

    /// Wait (at most `within`) for an armed crash; None if it has not happened.
    pub fn wait_crash(&self, within: Duration) -> Option<io::Result<Stats>> {
        let until = Instant::now() + within;
        loop {
            if let Some(r) = &self.lock().fired {
                return Some(r.clone().map_err(io::Error::other));
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Clean unmount: unless crashed, everything written reaches the backing directory.
    pub fn unmount(mut self) -> io::Result<()> {
        self.lock().flush_to(&self.backing)?;
        self.detach();
        Ok(())
    }

    fn detach(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        {
            // Any request still arriving fails instead of changing a state no one will read.
            self.lock().stopped = true;
        }
        // MNT_DETACH: a process still holding a file open (a server being reaped) must not make
        // the unmount fail and leave a dead mount behind.
        let _ = rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::DETACH);
        // The session thread ends when the kernel tears the connection down; wait a little,
        // then let it go rather than hang a test.
        let until = Instant::now() + Duration::from_secs(2);
        while !session.guard.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(session);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.detach();
    }
}

/// True if /proc/self/mountinfo lists `path` as a FUSE mount.
pub fn is_mounted(path: &Path) -> io::Result<bool> {
    let path = path.canonicalize()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let fstype = f.iter().position(|&x| x == "-").and_then(|i| f.get(i + 1));
        f.get(4).is_some_and(|m| Path::new(m) == path)
            && fstype.is_some_and(|t| t.starts_with("fuse"))
    }))
}

/// Through a real mount: the kernel's FUSE requests reach the model as the tests above assume
/// (fdatasync and a directory's fsync arrive, O_APPEND lands at the end). Needs /dev/fuse and
/// root, as CI has; a machine without them fails here rather than skipping.
#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, File, OpenOptions};
    use std::io::Write;

    struct Dirs(PathBuf);
    impl Dirs {
        fn new(tag: &str) -> Dirs {
            let p = std::env::temp_dir().join(format!("lazyfs-mount-{}-{tag}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(p.join("disk")).unwrap();
            fs::create_dir_all(p.join("mnt")).unwrap();
            Dirs(p)
        }
        fn disk(&self) -> PathBuf {
            self.0.join("disk")
        }
        fn mnt(&self) -> PathBuf {
            self.0.join("mnt")
        }
        fn mount(&self) -> Mounted {
            Mounted::mount(&self.disk(), &self.mnt())
                .unwrap_or_else(|e| panic!("lazyfs must mount (root and /dev/fuse needed): {e}"))
        }
    }
    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn through_the_kernel_only_synced_data_and_names_survive_a_crash() {
        let d = Dirs::new("crash");
        fs::write(d.disk().join("before"), b"on disk").unwrap();
        let m = d.mount();
        let mnt = d.mnt();
        assert_eq!(fs::read(mnt.join("before")).unwrap(), b"on disk");
        fs::create_dir(mnt.join("dir")).unwrap();
        File::open(&mnt).unwrap().sync_all().unwrap();
        let mut log = OpenOptions::new()
            .append(true)
            .create(true)
            .open(mnt.join("dir/log"))
            .unwrap();
        log.write_all(b"one\n").unwrap();
        log.sync_data().unwrap();
        File::open(mnt.join("dir")).unwrap().sync_all().unwrap();
        log.write_all(b"two\n").unwrap();
        assert_eq!(fs::read(mnt.join("dir/log")).unwrap(), b"one\ntwo\n");
        fs::write(mnt.join("dir/tmp"), b"new").unwrap();
        File::open(mnt.join("dir/tmp")).unwrap().sync_all().unwrap();
        fs::rename(mnt.join("dir/tmp"), mnt.join("before")).unwrap();
        // Unlinked while open, but its directory is not synced again: it comes back.
        fs::remove_file(mnt.join("dir/log")).unwrap();
        let st = m.crash(Crash::DropUnsynced).unwrap();
        assert!(st.file_syncs >= 2 && st.dir_syncs >= 2, "{st:?}");
        assert!(
            log.write_all(b"three\n").is_err(),
            "after the crash every write fails"
        );
        drop(log);
        drop(m);
        assert!(!is_mounted(&mnt).unwrap(), "dropping unmounts");
        assert_eq!(fs::read(d.disk().join("dir/log")).unwrap(), b"one\n");
        assert_eq!(fs::read(d.disk().join("before")).unwrap(), b"on disk");
        assert!(!d.disk().join("dir/tmp").exists());
    }

    #[test]
    fn a_clean_unmount_keeps_everything() {
        let d = Dirs::new("clean");
        let m = d.mount();
        fs::create_dir(d.mnt().join("a")).unwrap();
        fs::write(d.mnt().join("a/f"), b"unsynced but flushed").unwrap();
        m.unmount().unwrap();
        assert!(!is_mounted(&d.mnt()).unwrap());
        assert_eq!(
            fs::read(d.disk().join("a/f")).unwrap(),
            b"unsynced but flushed"
        );
    }

    #[test]
    fn a_panicking_test_still_unmounts() {
        let d = Dirs::new("panic");
        let mnt = d.mnt();
        let r = std::thread::spawn({
            let d = d.0.clone();
            move || {
                let _m = Mounted::mount(&d.join("disk"), &d.join("mnt")).unwrap();
                panic!("test failure while mounted");
            }
        })
        .join();
        assert!(r.is_err());
        assert!(!is_mounted(&mnt).unwrap());
    }
}
