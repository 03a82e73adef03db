//! [`FsObjectStore`]: the object store as files under `{data}/objects`.
//!
//! - **Layout.** Each bucket is a directory (`objects/process`, `objects/quarantine`,
//!   `objects/exports`) and a key is a relative path in it: `incoming/alice/u1.json` is
//!   `objects/process/incoming/alice/u1.json`. Keys are checked before any path is built:
//!   empty keys or segments, `.` and `..` segments, a leading `/`, backslashes and NUL are
//!   refused with a permanent error, so no key reaches outside its bucket directory.
//! - **Atomic writes.** An object is written to a temporary file in `objects/.tmp` (the same
//!   filesystem, outside every bucket so listings never see it), flushed with `fsync`, then
//!   renamed over its key, and the directory is synced. Readers see the old object or the
//!   new one, never part of one; a crash leaves at most a stale temporary file, swept at the
//!   next open.
//! - **ETag.** The hex SHA-256 of the content, computed once when the object is written (the
//!   bytes are in memory then anyway) and stored in a one-line header at the start of the
//!   file, so `head` and `list` read a few bytes instead of hashing whole objects, and `copy`
//!   carries the ETag over without hashing either. Deriving it from the content (like S3's
//!   MD5 ETags) means the same content always has the same ETag, so re-uploading identical
//!   bytes is recognised by the processing ledger; one from size and mtime (as
//!   `object_store`'s `LocalFileSystem` does) could repeat for a same-size rewrite within the
//!   timestamp granularity, and the ledger would then skip new content. Header and content
//!   are one file written by one rename, so they can never disagree.
//!
//! A key cannot be both an object and a "directory" of other keys (`a/b` and `a/b/c`): S3
//! allows it, but the key layout never produces it, and such a write is refused with a
//! permanent error rather than silently mangled. On case-insensitive filesystems (macOS)
//! keys differing only in case would collide; EventPulse's keys are lower-case ids.

use crate::blocking;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use eventpulse_handlers::ports::{
    Bucket, Object, ObjectInfo, ObjectStore, ObjectWriter, PortError, PortResult,
};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// First bytes of every object file; the rest of the line is `{etag} {size} {content type}`.
const MAGIC: &str = "eventpulse-object/1 ";
/// Longest header line read (the content type is bounded well below it).
const MAX_HEADER: u64 = 1024;
const MAX_CONTENT_TYPE: usize = 256;
/// S3's limits, kept so that what works locally works on AWS.
const MAX_KEY_BYTES: usize = 1024;
/// NAME_MAX of common filesystems.
const MAX_SEGMENT_BYTES: usize = 255;
/// Objects, staged uploads and every other file of the store: the owner's only (the data
/// dir holds every tenant's data).
const FILE_MODE: u32 = 0o600;
/// Temporary files older than this are left over from a crash.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// The object store as files; cheap to clone.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `{data}/objects`.
    root: PathBuf,
    /// `{data}/objects/.tmp`: where objects are written before being renamed into place.
    tmp: PathBuf,
}

/// What the header line says.
#[derive(Debug, Clone)]
struct Header {
    etag: String,
    size: u64,
}

/// An object file opened for reading, positioned at its first content byte.
struct Opened {
    file: File,
    header: Header,
    header_len: u64,
    modified: DateTime<Utc>,
}

fn bucket_dir(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Process => "process",
        Bucket::Quarantine => "quarantine",
        Bucket::Exports => "exports",
    }
}

const BUCKETS: [Bucket; 3] = [Bucket::Process, Bucket::Quarantine, Bucket::Exports];

fn io_error(what: impl std::fmt::Display, e: io::Error) -> PortError {
    let message = format!("object store: {what}: {e}");
    match e.kind() {
        ErrorKind::Interrupted
        | ErrorKind::TimedOut
        | ErrorKind::WouldBlock
        | ErrorKind::StorageFull
        | ErrorKind::QuotaExceeded
        | ErrorKind::ResourceBusy
        | ErrorKind::OutOfMemory => PortError::transient(message),
        _ => PortError::permanent(message),
    }
}

/// The path, or a parent of it, does not exist (or a parent is a file): no object there.
fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn conflict(key: &str) -> PortError {
    PortError::permanent(format!(
        "object store: key {key:?} conflicts with another key: in the embedded store a key cannot \
         be both an object and a prefix of other keys followed by `/`"
    ))
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= MAX_SEGMENT_BYTES
        && !s.contains(['/', '\\', '\0'])
}

/// Refuses keys that are not a plain relative path of normal segments.
fn check_key(key: &str) -> PortResult<()> {
    let why = if key.is_empty() {
        "it is empty"
    } else if key.len() > MAX_KEY_BYTES {
        "it is longer than 1024 bytes"
    } else if key.starts_with('/') {
        "it is absolute"
    } else if key.contains('\\') {
        "it contains a backslash"
    } else if key.contains('\0') {
        "it contains NUL"
    } else if key.split('/').any(|s| s.is_empty()) {
        "it has an empty segment"
    } else if key.split('/').any(|s| s == "." || s == "..") {
        "it has a `.` or `..` segment"
    } else if key.split('/').any(|s| s.len() > MAX_SEGMENT_BYTES) {
        "a segment is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(PortError::permanent(format!(
        "object key {key:?} refused: {why}"
    )))
}

fn modified(meta: &fs::Metadata) -> DateTime<Utc> {
    meta.modified()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl FsObjectStore {
    /// The object's info and a reader of its content (exactly `size` bytes), for serving it
    /// without holding it in memory. A replaced object keeps being read whole: the open
    /// file is the old one (objects are replaced by rename, never rewritten in place).
    pub async fn open_read(
        &self,
        bucket: Bucket,
        key: &str,
    ) -> PortResult<Option<(ObjectInfo, tokio::io::Take<tokio::fs::File>)>> {
        use tokio::io::AsyncReadExt as _;
        let (inner, key) = (self.inner.clone(), key.to_string());
        let opened = blocking("object store open", move || {
            inner.open_content(bucket, &key)
        })
        .await?;
        Ok(opened.map(|(info, file)| {
            let size = info.size;
            (info, tokio::fs::File::from_std(file).take(size))
        }))
    }

    /// Opens (creating if needed) the store under `{data_dir}/objects`. Blocking: call it at
    /// start-up.
    pub fn open(data_dir: impl AsRef<Path>) -> PortResult<Self> {
        let root = data_dir.as_ref().join("objects");
        for b in BUCKETS {
            let dir = root.join(bucket_dir(b));
            crate::create_private_dir_all(&dir)
                .map_err(|e| io_error(format!("creating {}", dir.display()), e))?;
        }
        let tmp = root.join(".tmp");
        crate::create_private_dir_all(&tmp)
            .map_err(|e| io_error(format!("creating {}", tmp.display()), e))?;
        sweep_stale(&tmp);
        Ok(Self {
            inner: Arc::new(Inner { root, tmp }),
        })
    }

    /// The directory holding a bucket's objects.
    pub fn bucket_path(&self, bucket: Bucket) -> PathBuf {
        self.inner.root.join(bucket_dir(bucket))
    }
}

/// Removes temporary files a crash left behind (old enough not to be a write in progress of
/// another process sharing the directory).
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > STALE_TMP);
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

impl Inner {
    fn bucket_root(&self, bucket: Bucket) -> PathBuf {
        self.root.join(bucket_dir(bucket))
    }

    /// The file of `key`, after checking the key cannot leave the bucket.
    fn path(&self, bucket: Bucket, key: &str) -> PortResult<PathBuf> {
        check_key(key)?;
        let base = self.bucket_root(bucket);
        let mut path = base.clone();
        path.extend(key.split('/'));
        // Belt and braces: whatever the platform's path rules, the result must be the bucket
        // directory followed by normal components only.
        let inside = path
            .strip_prefix(&base)
            .is_ok_and(|rel| rel.components().all(|c| matches!(c, Component::Normal(_))));
        if !inside {
            return Err(PortError::permanent(format!(
                "object key {key:?} refused: it does not map to a path inside the bucket"
            )));
        }
        Ok(path)
    }

    fn open_object(&self, path: &Path, key: &str) -> PortResult<Option<Opened>> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(io_error(format!("opening {key:?}"), e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| io_error(format!("reading {key:?}"), e))?;
        if !meta.is_file() {
            // A "directory" of other keys, not an object.
            return Ok(None);
        }
        let mut line = Vec::new();
        BufReader::new((&file).take(MAX_HEADER))
            .read_until(b'\n', &mut line)
            .map_err(|e| io_error(format!("reading {key:?}"), e))?;
        let corrupt = |why: &str| {
            PortError::permanent(format!(
                "object store: {} is not a valid object file ({why})",
                path.display()
            ))
        };
        let text = std::str::from_utf8(&line).map_err(|_| corrupt("header is not UTF-8"))?;
        let rest = text
            .strip_suffix('\n')
            .and_then(|t| t.strip_prefix(MAGIC))
            .ok_or_else(|| corrupt("no header"))?;
        let mut parts = rest.splitn(3, ' ');
        let (Some(etag), Some(size)) = (parts.next(), parts.next()) else {
            return Err(corrupt("incomplete header"));
        };
        let size: u64 = size.parse().map_err(|_| corrupt("bad size"))?;
        let header_len = line.len() as u64;
        if etag.is_empty() || meta.len() != header_len.saturating_add(size) {
            return Err(corrupt("size does not match the header"));
        }
        let mut file = file;
        file.seek(SeekFrom::Start(header_len))
            .map_err(|e| io_error(format!("reading {key:?}"), e))?;
        Ok(Some(Opened {
            file,
            header: Header {
                etag: etag.to_string(),
                size,
            },
            header_len,
            modified: modified(&meta),
        }))
    }

    /// Writes a new file with `write`, then renames it over `path`.
    fn write_atomically(
        &self,
        path: &Path,
        key: &str,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> PortResult<DateTime<Utc>> {
        let tmp = self
            .tmp
            .join(format!("{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = self.write_then_rename(&tmp, path, key, write);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_then_rename(
        &self,
        tmp: &Path,
        path: &Path,
        key: &str,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> PortResult<DateTime<Utc>> {
        let what = || format!("writing {key:?}");
        let mut file = crate::private_file_options()
            .write(true)
            .create_new(true)
            .open(tmp)
            .map_err(|e| io_error(what(), e))?;
        write(&mut file).map_err(|e| io_error(what(), e))?;
        file.sync_all().map_err(|e| io_error(what(), e))?;
        let written = file.metadata().map_err(|e| io_error(what(), e))?;
        drop(file);
        let parent = path
            .parent()
            .ok_or_else(|| PortError::permanent(format!("object key {key:?} has no parent")))?;
        // A concurrent delete may prune the parent directory between its creation and the
        // rename; try again then.
        for attempt in 0.. {
            match crate::create_private_dir_all(parent) {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::NotADirectory | ErrorKind::AlreadyExists
                    ) =>
                {
                    return Err(conflict(key));
                }
                Err(e) => return Err(io_error(what(), e)),
            }
            match fs::rename(tmp, path) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound && attempt < 5 => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::IsADirectory
                            | ErrorKind::DirectoryNotEmpty
                            | ErrorKind::NotADirectory
                    ) || path.is_dir() =>
                {
                    return Err(conflict(key));
                }
                Err(e) => return Err(io_error(what(), e)),
            }
        }
        sync_dir(parent).map_err(|e| io_error(what(), e))?;
        Ok(modified(&written))
    }

    fn put(
        &self,
        bucket: Bucket,
        key: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> PortResult<ObjectInfo> {
        let path = self.path(bucket, key)?;
        if content_type.len() > MAX_CONTENT_TYPE || content_type.contains(['\n', '\r']) {
            return Err(PortError::permanent(format!(
                "content type {content_type:?} refused"
            )));
        }
        let etag = hex::encode(Sha256::digest(bytes));
        let size = bytes.len() as u64;
        let header = format!("{MAGIC}{etag} {size} {content_type}\n");
        let last_modified = self.write_atomically(&path, key, |f| {
            f.write_all(header.as_bytes())?;
            f.write_all(bytes)
        })?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size,
            etag,
            last_modified,
        })
    }

    /// Writes the object `key` from the first `size` bytes of `src`, whose hex SHA-256 is
    /// `etag` (a [`Staged`] upload).
    fn put_from(
        &self,
        bucket: Bucket,
        key: &str,
        mut src: File,
        size: u64,
        etag: String,
        content_type: &str,
    ) -> PortResult<ObjectInfo> {
        let path = self.path(bucket, key)?;
        if content_type.len() > MAX_CONTENT_TYPE || content_type.contains(['\n', '\r']) {
            return Err(PortError::permanent(format!(
                "content type {content_type:?} refused"
            )));
        }
        let header = format!("{MAGIC}{etag} {size} {content_type}\n");
        let last_modified = self.write_atomically(&path, key, |f| {
            f.write_all(header.as_bytes())?;
            src.seek(SeekFrom::Start(0))?;
            copy_exactly(
                &src,
                f,
                size,
                "the staged upload is shorter than what was received",
            )
        })?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size,
            etag,
            last_modified,
        })
    }

    fn head(&self, bucket: Bucket, key: &str) -> PortResult<Option<ObjectInfo>> {
        let path = self.path(bucket, key)?;
        Ok(self.open_object(&path, key)?.map(|o| ObjectInfo {
            key: key.to_string(),
            size: o.header.size,
            etag: o.header.etag,
            last_modified: o.modified,
        }))
    }

    fn get(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Object>> {
        let path = self.path(bucket, key)?;
        let Some(opened) = self.open_object(&path, key)? else {
            return Ok(None);
        };
        let size = opened.header.size;
        if size > max_bytes {
            return Err(PortError::permanent(format!(
                "object {key:?} is {size} bytes, more than the {max_bytes} allowed"
            )));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&opened.file)
            .take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(format!("reading {key:?}"), e))?;
        if bytes.len() as u64 != size {
            return Err(PortError::permanent(format!(
                "object store: {key:?} is shorter than its header says"
            )));
        }
        Ok(Some(Object {
            info: ObjectInfo {
                key: key.to_string(),
                size,
                etag: opened.header.etag,
                last_modified: opened.modified,
            },
            bytes: Bytes::from(bytes),
        }))
    }

    /// The object's info and its file, positioned at the content.
    fn open_content(&self, bucket: Bucket, key: &str) -> PortResult<Option<(ObjectInfo, File)>> {
        let path = self.path(bucket, key)?;
        Ok(self.open_object(&path, key)?.map(|opened| {
            (
                ObjectInfo {
                    key: key.to_string(),
                    size: opened.header.size,
                    etag: opened.header.etag,
                    last_modified: opened.modified,
                },
                opened.file,
            )
        }))
    }

    fn copy(
        &self,
        from: Bucket,
        from_key: &str,
        to: Bucket,
        to_key: &str,
    ) -> PortResult<Option<ObjectInfo>> {
        let src = self.path(from, from_key)?;
        let dst = self.path(to, to_key)?;
        let Some(mut opened) = self.open_object(&src, from_key)? else {
            return Ok(None);
        };
        // The whole file, header included: the ETag travels with the content.
        let total = opened.header_len + opened.header.size;
        opened
            .file
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_error(format!("reading {from_key:?}"), e))?;
        let last_modified = self.write_atomically(&dst, to_key, |f| {
            copy_exactly(
                &opened.file,
                f,
                total,
                "source shorter than its header says",
            )
        })?;
        Ok(Some(ObjectInfo {
            key: to_key.to_string(),
            size: opened.header.size,
            etag: opened.header.etag,
            last_modified,
        }))
    }

    fn delete(&self, bucket: Bucket, key: &str) -> PortResult<()> {
        let path = self.path(bucket, key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if is_absent(&e) => return Ok(()),
            // A "directory" of other keys: there is no object with this key.
            Err(_) if path.is_dir() => return Ok(()),
            Err(e) => return Err(io_error(format!("deleting {key:?}"), e)),
        }
        // Prune directories left empty, so that they neither accumulate nor block a later
        // object with the same name as a directory.
        let base = self.bucket_root(bucket);
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == base || fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        if let Some(d) = dir {
            sync_dir(d).map_err(|e| io_error(format!("deleting {key:?}"), e))?;
        }
        Ok(())
    }

    fn list(
        &self,
        bucket: Bucket,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<ObjectInfo>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Walk only the deepest directory the prefix names; its last, partial segment
        // filters that directory's entries.
        let base = self.bucket_root(bucket);
        let mut start = base.clone();
        let (key_prefix, name_filter) = match prefix.rfind('/') {
            Some(i) => {
                let dirs = &prefix[..i];
                if dirs.split('/').any(|s| !valid_segment(s)) {
                    // No valid key has this prefix.
                    return Ok(Vec::new());
                }
                start.extend(dirs.split('/'));
                (&prefix[..=i], &prefix[i + 1..])
            }
            None => ("", prefix),
        };
        let mut keys = Vec::new();
        walk(&start, key_prefix, Some(name_filter), &mut keys)?;
        if let Some(after) = start_after {
            keys.retain(|k| k.as_str() > after);
        }
        // Key order is byte order of whole keys (as on S3), not a per-directory walk order:
        // `a-c` < `a.d` < `a/b`.
        keys.sort_unstable();
        let mut out = Vec::with_capacity(limit.min(keys.len()));
        for key in keys {
            if out.len() == limit {
                break;
            }
            let mut path = base.clone();
            path.extend(key.split('/'));
            // Gone since the walk: skip it, as a listing a moment later would.
            if let Some(o) = self.open_object(&path, &key)? {
                out.push(ObjectInfo {
                    key,
                    size: o.header.size,
                    etag: o.header.etag,
                    last_modified: o.modified,
                });
            }
        }
        Ok(out)
    }
}

/// Collects the keys of the regular files under `dir`, whose key starts with `key_prefix`;
/// at the top level only names starting with `filter`.
fn walk(
    dir: &Path,
    key_prefix: &str,
    filter: Option<&str>,
    out: &mut Vec<String>,
) -> PortResult<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(io_error(format!("listing {key_prefix:?}"), e)),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) if is_absent(&e) => continue,
            Err(e) => return Err(io_error(format!("listing {key_prefix:?}"), e)),
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if filter.is_some_and(|f| !name.starts_with(f)) || !valid_segment(name) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let key = format!("{key_prefix}{name}");
        if kind.is_dir() {
            walk(&entry.path(), &format!("{key}/"), None, out)?;
        } else if kind.is_file() {
            out.push(key);
        }
        // Symbolic links and other special files are not objects.
    }
    Ok(())
}

/// An object being received in pieces (a streamed upload). Its content goes to a temporary
/// file in `objects/.tmp` as it arrives, hashed on the way, so that memory does not grow with
/// it; it becomes an object only at [`Staged::commit`]. Dropped without a commit (a client
/// that stopped sending, a cancelled request), its file is removed.
pub struct Staged {
    inner: Arc<Inner>,
    path: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    size: u64,
}

impl FsObjectStore {
    /// Starts receiving an object.
    pub async fn stage(&self) -> PortResult<Staged> {
        let path = self
            .inner
            .tmp
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).read(true).create_new(true);
        #[cfg(unix)]
        options.mode(FILE_MODE);
        let file = options
            .open(&path)
            .await
            .map_err(|e| io_error("staging an upload", e))?;
        Ok(Staged {
            inner: self.inner.clone(),
            path,
            file: Some(file),
            hasher: Sha256::new(),
            size: 0,
        })
    }
}

impl Staged {
    /// Appends `chunk`.
    pub async fn write(&mut self, chunk: &[u8]) -> PortResult<()> {
        use tokio::io::AsyncWriteExt;
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| PortError::permanent("staged upload already committed"))?;
        file.write_all(chunk)
            .await
            .map_err(|e| io_error("staging an upload", e))?;
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Writes what was received as the object `key` (atomically, as [`ObjectStore::put`]
    /// does), then removes the staged file.
    pub async fn commit(
        mut self,
        bucket: Bucket,
        key: &str,
        content_type: &str,
    ) -> PortResult<ObjectInfo> {
        use tokio::io::AsyncWriteExt;
        let mut file = self
            .file
            .take()
            .ok_or_else(|| PortError::permanent("staged upload already committed"))?;
        file.flush()
            .await
            .map_err(|e| io_error("staging an upload", e))?;
        let src = file.into_std().await;
        let etag = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let (inner, key, content_type, size) = (
            self.inner.clone(),
            key.to_string(),
            content_type.to_string(),
            self.size,
        );
        blocking("object store put", move || {
            inner.put_from(bucket, &key, src, size, etag, &content_type)
        })
        .await
    }
}

/// [`ObjectWriter`] on a [`Staged`] file: parts are appended as they come; `finish` makes
/// it the object, atomically.
struct StagedWriter {
    staged: Staged,
    bucket: Bucket,
    key: String,
    content_type: String,
}

#[async_trait]
impl ObjectWriter for StagedWriter {
    async fn write(&mut self, part: Bytes) -> PortResult<()> {
        self.staged.write(&part).await
    }

    async fn finish(self: Box<Self>) -> PortResult<ObjectInfo> {
        let w = *self;
        w.staged.commit(w.bucket, &w.key, &w.content_type).await
    }

    async fn abort(self: Box<Self>) -> PortResult<()> {
        Ok(()) // dropping the staged file removes it
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        drop(self.file.take());
        // One unlink; a file a crash leaves is swept at the next open.
        let _ = fs::remove_file(&self.path);
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn put(
        &self,
        bucket: Bucket,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> PortResult<ObjectInfo> {
        let (inner, key, content_type) = (
            self.inner.clone(),
            key.to_string(),
            content_type.to_string(),
        );
        blocking("object store put", move || {
            inner.put(bucket, &key, &bytes, &content_type)
        })
        .await
    }

    async fn head(&self, bucket: Bucket, key: &str) -> PortResult<Option<ObjectInfo>> {
        let (inner, key) = (self.inner.clone(), key.to_string());
        blocking("object store head", move || inner.head(bucket, &key)).await
    }

    async fn get(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Object>> {
        let (inner, key) = (self.inner.clone(), key.to_string());
        blocking("object store get", move || {
            inner.get(bucket, &key, max_bytes)
        })
        .await
    }

    async fn copy(
        &self,
        from: Bucket,
        from_key: &str,
        to: Bucket,
        to_key: &str,
    ) -> PortResult<Option<ObjectInfo>> {
        let (inner, from_key, to_key) =
            (self.inner.clone(), from_key.to_string(), to_key.to_string());
        blocking("object store copy", move || {
            inner.copy(from, &from_key, to, &to_key)
        })
        .await
    }

    async fn writer(
        &self,
        bucket: Bucket,
        key: &str,
        content_type: &str,
    ) -> PortResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(StagedWriter {
            staged: self.stage().await?,
            bucket,
            key: key.to_string(),
            content_type: content_type.to_string(),
        }))
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> PortResult<()> {
        let (inner, key) = (self.inner.clone(), key.to_string());
        blocking("object store delete", move || inner.delete(bucket, &key)).await
    }

    async fn list(
        &self,
        bucket: Bucket,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<ObjectInfo>> {
        let (inner, prefix, start_after) = (
            self.inner.clone(),
            prefix.to_string(),
            start_after.map(str::to_string),
        );
        blocking("object store list", move || {
            inner.list(bucket, &prefix, start_after.as_deref(), limit)
        })
        .await
    }
}

/// Copies exactly `n` bytes of `src` (from its current position) into `dst`; fewer is an
/// `UnexpectedEof` saying `short`, so a truncated source never becomes a shorter object.
fn copy_exactly(src: &File, dst: &mut File, n: u64, short: &str) -> io::Result<()> {
    if io::copy(&mut src.take(n), dst)? == n {
        Ok(())
    } else {
        Err(io::Error::new(ErrorKind::UnexpectedEof, short.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_escape_are_refused() {
        for key in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            ".",
            "..",
            "a//b",
            "a/",
            "a\\..\\b",
            "a\0b",
            &"x".repeat(256),
            &"a/".repeat(600),
        ] {
            let e = check_key(key).expect_err(key);
            assert!(!e.retryable, "{key:?}");
        }
        for key in [
            "a",
            "a/b/c.json",
            "..a/b..",
            ".hidden",
            "sp ace/é+%:=~.json",
        ] {
            assert!(check_key(key).is_ok(), "{key:?}");
        }
    }

    #[test]
    fn prefixes_that_no_key_can_have_list_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsObjectStore::open(dir.path()).expect("open");
        store
            .inner
            .put(Bucket::Process, "x/y", b"1", "a/b")
            .expect("put");
        for prefix in ["/x", "../", "x//", "./x/", "x/../x/"] {
            assert!(
                store
                    .inner
                    .list(Bucket::Process, prefix, None, 10)
                    .expect(prefix)
                    .is_empty(),
                "{prefix}"
            );
        }
        assert_eq!(
            store
                .inner
                .list(Bucket::Process, "x/", None, 10)
                .expect("list")
                .len(),
            1
        );
        assert_eq!(
            store
                .inner
                .list(Bucket::Process, "", None, 10)
                .expect("list")
                .len(),
            1
        );
    }

    #[test]
    fn a_key_cannot_be_an_object_and_a_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsObjectStore::open(dir.path()).expect("open");
        store
            .inner
            .put(Bucket::Process, "a/b", b"1", "t")
            .expect("put");
        let e = store
            .inner
            .put(Bucket::Process, "a/b/c", b"2", "t")
            .expect_err("conflict");
        assert!(!e.retryable && e.message.contains("conflicts"), "{e}");
        store
            .inner
            .put(Bucket::Process, "x/y/z", b"1", "t")
            .expect("put");
        let e = store
            .inner
            .put(Bucket::Process, "x/y", b"2", "t")
            .expect_err("conflict");
        assert!(!e.retryable, "{e}");
        // Not objects: nothing to see, nothing to delete.
        assert!(
            store
                .inner
                .head(Bucket::Process, "x/y")
                .expect("head")
                .is_none()
        );
        store.inner.delete(Bucket::Process, "x/y").expect("delete");
        assert!(
            store
                .inner
                .head(Bucket::Process, "x/y/z")
                .expect("head")
                .is_some()
        );
        // Once the last object under a directory is deleted, the name is free again.
        store
            .inner
            .delete(Bucket::Process, "x/y/z")
            .expect("delete");
        store
            .inner
            .put(Bucket::Process, "x/y", b"2", "t")
            .expect("put after prune");
    }

    #[test]
    fn a_foreign_or_damaged_file_is_a_permanent_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsObjectStore::open(dir.path()).expect("open");
        let path = store.bucket_path(Bucket::Process).join("raw.json");
        fs::write(&path, b"{}").expect("write");
        let e = store
            .inner
            .head(Bucket::Process, "raw.json")
            .expect_err("no header");
        assert!(!e.retryable, "{e}");
        store
            .inner
            .put(Bucket::Process, "cut.json", b"0123456789", "t")
            .expect("put");
        let path = store.bucket_path(Bucket::Process).join("cut.json");
        let len = fs::metadata(&path).expect("meta").len();
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open")
            .set_len(len - 1)
            .expect("truncate");
        assert!(store.inner.get(Bucket::Process, "cut.json", 100).is_err());
    }

    #[test]
    fn stale_temporary_files_are_swept_and_never_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsObjectStore::open(dir.path()).expect("open");
        let stale = store.inner.tmp.join("old.tmp");
        let fresh = store.inner.tmp.join("new.tmp");
        fs::write(&stale, b"x").expect("write");
        fs::write(&fresh, b"x").expect("write");
        let old = SystemTime::now() - Duration::from_secs(2 * 3600);
        File::options()
            .write(true)
            .open(&stale)
            .expect("open")
            .set_modified(old)
            .expect("mtime");
        drop(store);
        let store = FsObjectStore::open(dir.path()).expect("reopen");
        assert!(!stale.exists() && fresh.exists());
        for b in BUCKETS {
            assert!(store.inner.list(b, "", None, 10).expect("list").is_empty());
        }
    }
}
