//! The query cache (`moat query --cache FILE`): a checked policy stored so
//! that later queries on the *same* inputs answer without parsing and
//! checking again, in time independent of the number of allows.
//!
//! A query needs the atoms (to resolve `--from`/`--to`), the one flow between
//! them, the allows that flow cites, and the forbids. The file holds the
//! atoms, zones, sites and forbids as one small JSON document, and every flow
//! and allow as its own JSON blob behind a sorted binary index, so a query
//! reads a few kilobytes whatever the size of the policy:
//!
//! ```text
//! "moat-query-cache 1\n"
//! u64 len, header JSON      moat version, inputs, every source file's path, length and hash
//! u64 len, skeleton JSON    name, title, sites, zones, atoms, forbids, number of allows, layout
//! u64 n, n x flow entry     (from u32, to u32, offset u64, length u32), sorted by (from, to)
//! u64 n, n x allow entry    (offset u64, length u32), by allow id
//! blobs                     offsets count from here
//! ```
//!
//! A cache is used only when the moat version, the inputs as given, the files
//! each directory input contains and the length and hash of every source file
//! all match; otherwise the policy is checked again and the cache rewritten.
//! The hash is FNV-1a over 8-byte words: it detects edits, not attacks
//! (anyone who can write the cache can write the policy). A damaged cache
//! is reported as a warning, and the policy is checked and the cache rebuilt.

use crate::ir::{Allow, AtomId, Flow, Forbid, Ir, Site, Zone};
use crate::load::Fs;
use crate::span::SourceMap;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8] = b"moat-query-cache 1\n";
const FLOW_ENTRY: u64 = 4 + 4 + 8 + 4;
const ALLOW_ENTRY: u64 = 8 + 4;

/// What the cache was built from.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Header {
    version: String,
    /// The inputs as given on the command line, made absolute.
    inputs: Vec<PathBuf>,
    /// For each input that is a directory, the policy files in it.
    listings: Vec<(PathBuf, Vec<PathBuf>)>,
    /// Every source file read: absolute path, length, hash.
    files: Vec<(PathBuf, u64, u64)>,
}

/// The part of the IR every query needs.
#[derive(Serialize, Deserialize)]
struct Skeleton {
    name: String,
    title: Option<String>,
    sites: Vec<Site>,
    zones: Vec<Zone>,
    atoms: Vec<crate::ir::Atom>,
    forbids: Vec<Forbid>,
    n_allows: usize,
    #[serde(default)]
    layout: crate::ir::Layout,
}

/// FNV-1a over little-endian 8-byte words (and the tail bytes), with the length.
pub fn hash(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(PRIME);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

/// The header for these inputs as they are on disk now: `files` are the
/// source files a check read (when writing a cache) or those a cache
/// recorded (when validating one); each is read and hashed.
fn header(fs: &dyn Fs, inputs: &[PathBuf], files: &[PathBuf]) -> io::Result<Header> {
    let mut listings = vec![];
    for input in inputs {
        if let Some(mut found) = fs.moat_files_in(input) {
            found.sort();
            listings.push((absolute(input), found.iter().map(|p| absolute(p)).collect()));
        }
    }
    let mut hashed = Vec::with_capacity(files.len());
    for f in files {
        let bytes = std::fs::read(f)?;
        hashed.push((f.clone(), bytes.len() as u64, hash(&bytes)));
    }
    Ok(Header {
        version: env!("CARGO_PKG_VERSION").to_string(),
        inputs: inputs.iter().map(|p| absolute(p)).collect(),
        listings,
        files: hashed,
    })
}

/// Writes the cache for a policy that checked clean of errors; atomically
/// (a temporary file beside it, then a rename).
pub fn write(path: &Path, fs: &dyn Fs, inputs: &[PathBuf], sources: &SourceMap, ir: &Ir) -> io::Result<()> {
    let files: Vec<PathBuf> = sources
        .files()
        .iter()
        .filter_map(|f| f.path.as_deref().map(absolute))
        .collect();
    if files.len() != sources.files().len() {
        return Err(io::Error::other("a source file has no path on disk"));
    }
    let head = serde_json::to_vec(&header(fs, inputs, &files)?)?;
    let skel = Skeleton {
        name: ir.name.clone(),
        title: ir.title.clone(),
        sites: ir.sites.clone(),
        zones: ir.zones.clone(),
        atoms: ir.atoms.clone(),
        forbids: ir.forbids.clone(),
        n_allows: ir.allows.len(),
        layout: ir.layout.clone(),
    };
    let skel = serde_json::to_vec(&skel)?;
    let mut blobs: Vec<u8> = vec![];
    let mut flow_index: Vec<u8> = Vec::with_capacity(ir.flows.len() * FLOW_ENTRY as usize);
    for ((from, to), flow) in &ir.flows {
        let off = blobs.len() as u64;
        serde_json::to_writer(&mut blobs, flow)?;
        flow_index.extend_from_slice(&(*from as u32).to_le_bytes());
        flow_index.extend_from_slice(&(*to as u32).to_le_bytes());
        flow_index.extend_from_slice(&off.to_le_bytes());
        flow_index.extend_from_slice(&((blobs.len() as u64 - off) as u32).to_le_bytes());
    }
    let mut allow_index: Vec<u8> = Vec::with_capacity(ir.allows.len() * ALLOW_ENTRY as usize);
    for allow in &ir.allows {
        let off = blobs.len() as u64;
        serde_json::to_writer(&mut blobs, allow)?;
        allow_index.extend_from_slice(&off.to_le_bytes());
        allow_index.extend_from_slice(&((blobs.len() as u64 - off) as u32).to_le_bytes());
    }
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map_or_else(|| "cache".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let result = (|| {
        let mut f = io::BufWriter::new(File::create(&tmp)?);
        f.write_all(MAGIC)?;
        for part in [&head, &skel] {
            f.write_all(&(part.len() as u64).to_le_bytes())?;
            f.write_all(part)?;
        }
        f.write_all(&(ir.flows.len() as u64).to_le_bytes())?;
        f.write_all(&flow_index)?;
        f.write_all(&(ir.allows.len() as u64).to_le_bytes())?;
        f.write_all(&allow_index)?;
        f.write_all(&blobs)?;
        // no fsync: a cache lost or torn in a crash is detected (magic,
        // header, JSON) and rebuilt, and syncing 80 MB would double a cold query
        f.flush()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An open cache that matched its inputs: the atoms and forbids are loaded,
/// flows and allows are read on demand.
pub struct Cached {
    file: File,
    /// The IR with every atom, zone, site and forbid, no flow, and
    /// placeholder allows until [`Cached::load_flow`] fills in those cited.
    pub ir: Ir,
    n_flows: u64,
    flows_at: u64,
    allows_at: u64,
    blobs_at: u64,
}

/// Opens the cache at `path` if it exists and was built from exactly these
/// inputs as they are now; `Ok(None)` when it is missing or stale.
pub fn open(path: &Path, fs: &dyn Fs, inputs: &[PathBuf]) -> io::Result<Option<Cached>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut magic = vec![0u8; MAGIC.len()];
    if file.read_exact(&mut magic).is_err() || magic != MAGIC {
        return Ok(None);
    }
    let head: Header = serde_json::from_slice(&read_part(&mut file)?)?;
    let files: Vec<PathBuf> = head.files.iter().map(|(p, _, _)| p.clone()).collect();
    match header(fs, inputs, &files) {
        Ok(now) if now == head => {}
        _ => return Ok(None),
    }
    let skel: Skeleton = serde_json::from_slice(&read_part(&mut file)?)?;
    let n_flows = read_u64(&mut file)?;
    let flows_at = file.stream_position()?;
    let allows_at = flows_at + n_flows * FLOW_ENTRY + 8;
    let blobs_at = allows_at + skel.n_allows as u64 * ALLOW_ENTRY;
    let placeholder = Allow {
        span: Default::default(),
        loc: String::new(),
        cite: String::new(),
        reason: None,
        exempt: None,
        l7: None,
    };
    let ir = Ir {
        name: skel.name,
        title: skel.title,
        sites: skel.sites,
        zones: skel.zones,
        atoms: skel.atoms,
        allows: vec![placeholder; skel.n_allows],
        forbids: skel.forbids,
        flows: Default::default(),
        layout: skel.layout,
    };
    Ok(Some(Cached {
        file,
        ir,
        n_flows,
        flows_at,
        allows_at,
        blobs_at,
    }))
}

impl Cached {
    /// Reads the flow `from -> to` (if any) into `self.ir`, with the allows it cites.
    pub fn load_flow(&mut self, from: AtomId, to: AtomId) -> io::Result<()> {
        let key = (from as u32, to as u32);
        let (mut lo, mut hi) = (0u64, self.n_flows);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let entry = self.read_at(self.flows_at + mid * FLOW_ENTRY, FLOW_ENTRY as usize)?;
            let k = (u32_at(&entry, 0), u32_at(&entry, 4));
            if k == key {
                let flow: Flow = serde_json::from_slice(
                    &self.read_at(self.blobs_at + u64_at(&entry, 8), u32_at(&entry, 16) as usize)?,
                )?;
                for id in flow.allow_ids() {
                    let e = self.read_at(self.allows_at + id as u64 * ALLOW_ENTRY, ALLOW_ENTRY as usize)?;
                    let allow: Allow = serde_json::from_slice(
                        &self.read_at(self.blobs_at + u64_at(&e, 0), u32_at(&e, 8) as usize)?,
                    )?;
                    if let Some(slot) = self.ir.allows.get_mut(id) {
                        *slot = allow;
                    }
                }
                self.ir.flows.insert((from, to), flow);
                return Ok(());
            }
            if k < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(())
    }

    fn read_at(&mut self, at: u64, len: usize) -> io::Result<Vec<u8>> {
        if len > 1 << 30 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "damaged cache"));
        }
        self.file.seek(SeekFrom::Start(at))?;
        let mut buf = vec![0u8; len];
        self.file.read_exact(&mut buf)?;
        Ok(buf)
    }
}

fn read_u64(f: &mut File) -> io::Result<u64> {
    let mut b = [0u8; 8];
    f.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A length-prefixed part; lengths above 1 GiB mean a damaged file.
fn read_part(f: &mut File) -> io::Result<Vec<u8>> {
    let len = read_u64(f)?;
    if len > 1 << 30 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "damaged cache"));
    }
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::hash;

    #[test]
    fn the_hash_sees_every_byte_and_the_length() {
        let base = b"zone a : demilitarised { cidr 10.0.0.0/24 }\n".to_vec();
        let h = hash(&base);
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] ^= 1;
            assert_ne!(hash(&b), h, "byte {i}");
        }
        assert_ne!(hash(&base[..base.len() - 1]), h);
        assert_ne!(hash(b""), hash(b"\0"));
        assert_eq!(hash(&base), h, "deterministic");
    }
}
