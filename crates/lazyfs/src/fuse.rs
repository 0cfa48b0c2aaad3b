//! The FUSE face of [`Fs`]: each request locks the shared state, so a crash taken from another
//! thread falls between two requests, never inside one.

use std::ffi::OsStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use crate::model::{Errno, Fs, Kind};

/// Every change goes through this file system, so the kernel may cache names and attributes;
/// a short time still bounds any surprise.
const TTL: Duration = Duration::from_secs(1);

pub(crate) struct LazyFuse {
    pub(crate) fs: Arc<Mutex<Fs>>,
}

impl LazyFuse {
    fn lock(&self) -> MutexGuard<'_, Fs> {
        self.fs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn attr(fs: &Fs, ino: u64) -> Result<FileAttr, Errno> {
    let (kind, size, nlink) = fs.attr(ino)?;
    Ok(FileAttr {
        ino,
        size,
        blocks: size.div_ceil(512),
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: file_type(kind),
        perm: if kind == Kind::Dir { 0o755 } else { 0o644 },
        nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    })
}

fn file_type(k: Kind) -> FileType {
    match k {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
    }
}

fn entry(reply: ReplyEntry, fs: &Fs, r: Result<u64, Errno>) {
    match r.and_then(|ino| attr(fs, ino)) {
        Ok(a) => reply.entry(&TTL, &a, 0),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, r: Result<(), Errno>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for LazyFuse {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let fs = self.lock();
        let r = fs.lookup(parent, name);
        entry(reply, &fs, r);
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match attr(&self.lock(), ino) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut fs = self.lock();
        let r = match size {
            Some(len) => fs.set_len(ino, len),
            None => Ok(()),
        };
        match r.and_then(|()| attr(&fs, ino)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(libc::EPERM);
        }
        let mut fs = self.lock();
        let r = fs.create(parent, name);
        entry(reply, &fs, r);
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut fs = self.lock();
        let r = fs.mkdir(parent, name);
        entry(reply, &fs, r);
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.lock().unlink(parent, name));
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.lock().rmdir(parent, name));
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        if flags & !libc::RENAME_NOREPLACE != 0 {
            return reply.error(libc::EINVAL);
        }
        let noreplace = flags & libc::RENAME_NOREPLACE != 0;
        empty(
            reply,
            self.lock()
                .rename(parent, name, newparent, newname, noreplace),
        );
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.lock().attr(ino) {
            Ok(_) => reply.opened(0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let fs = self.lock();
        match fs.read(ino, offset.max(0) as u64, size as usize) {
            Ok(b) => reply.data(b),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        if offset < 0 {
            return reply.error(libc::EINVAL);
        }
        match self.lock().write(ino, offset as u64, data) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lo: u64, reply: ReplyEmpty) {
        // close(2) is not a sync: nothing becomes durable here.
        empty(reply, self.lock().attr(_ino).map(drop));
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        // fdatasync too: it must persist the size of a file that grew, which is all the
        // metadata this file system keeps.
        empty(reply, self.lock().fsync(ino));
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.lock().list(ino) {
            Ok(_) => reply.opened(0, 0),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let fs = self.lock();
        let parent = fs.lookup(ino, OsStr::new("..")).unwrap_or(ino);
        let list = match fs.list(ino) {
            Ok(l) => l,
            Err(e) => return reply.error(e),
        };
        let all = [
            (".".into(), ino, Kind::Dir),
            ("..".into(), parent, Kind::Dir),
        ]
        .into_iter()
        .chain(list);
        for (i, (name, child, kind)) in all.enumerate().skip(offset.max(0) as usize) {
            if reply.add(child, i as i64 + 1, file_type(kind), &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        empty(reply, self.lock().fsync(ino));
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        reply.statfs(1 << 24, 1 << 23, 1 << 23, 1 << 20, 1 << 19, 4096, 255, 4096);
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut fs = self.lock();
        match fs.create(parent, name).and_then(|ino| attr(&fs, ino)) {
            Ok(a) => reply.created(&TTL, &a, 0, 0, 0),
            Err(e) => reply.error(e),
        }
    }
}
