//! The metapage (block 0): format identification, the root, and the NULL chain.

use crate::page::{NO_BLOCK, rd_u16, rd_u32, wr_u16, wr_u32};

/// "ALEX" in ASCII.
pub const MAGIC: u32 = 0x414C_4558;
/// Bumped whenever the on-page format changes; an index of another version must be rebuilt.
pub const FORMAT_VERSION: u32 = 2;

const MAGIC_OFF: usize = 0;
const VERSION_OFF: usize = 4;
const ROOT_OFF: usize = 8;
const ROOT_LEVEL_OFF: usize = 12;
const NULL_HEAD_OFF: usize = 16;
const NULL_TAIL_OFF: usize = 20;
const VACUUM_ACTIVE_OFF: usize = 24;
const NULL_FILL_OFF: usize = 28;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub magic: u32,
    pub version: u32,
    pub root: u32,
    pub root_level: u16,
    /// First and last page of the chain of NULL-key TIDs (NO_BLOCK when there is none).
    pub null_head: u32,
    pub null_tail: u32,
    /// A VACUUM is removing entries: splits must not reuse deleted pages meanwhile (entries they
    /// move there could be behind VACUUM's physical scan and be missed).
    pub vacuum_active: bool,
    /// A page of the NULL chain from which appends look for room (NO_BLOCK: the tail). VACUUM
    /// points it at the head after removing NULL entries; appends move it past full pages.
    pub null_fill: u32,
}

/// The checks the metapage passes each time it is read: its magic number, and a root that is
/// neither the metapage nor at an impossible level. Its version is checked by the reader.
pub fn check_header(b: &[u8]) -> Result<(), String> {
    let m = Meta::read(b);
    if m.magic != MAGIC {
        return Err(format!("the metapage has magic number {:#x}, not {MAGIC:#x}", m.magic));
    }
    if m.version == FORMAT_VERSION && (m.root == 0 || m.root == NO_BLOCK || m.root_level > crate::inner::MAX_LEVEL) {
        return Err(format!("the metapage names root block {} at level {}", m.root, m.root_level));
    }
    Ok(())
}

impl Meta {
    pub fn new(root: u32, root_level: u16) -> Meta {
        Meta { magic: MAGIC, version: FORMAT_VERSION, root, root_level, null_head: NO_BLOCK, null_tail: NO_BLOCK, vacuum_active: false, null_fill: NO_BLOCK }
    }

    pub fn read(b: &[u8]) -> Meta {
        Meta {
            magic: rd_u32(b, MAGIC_OFF),
            version: rd_u32(b, VERSION_OFF),
            root: rd_u32(b, ROOT_OFF),
            root_level: rd_u16(b, ROOT_LEVEL_OFF),
            null_head: rd_u32(b, NULL_HEAD_OFF),
            null_tail: rd_u32(b, NULL_TAIL_OFF),
            vacuum_active: rd_u16(b, VACUUM_ACTIVE_OFF) != 0,
            // Block 0 is the metapage: a zero here is "none".
            null_fill: match rd_u32(b, NULL_FILL_OFF) {
                0 => NO_BLOCK,
                blk => blk,
            },
        }
    }

    pub fn write(&self, b: &mut [u8]) {
        b[..32].fill(0);
        wr_u32(b, MAGIC_OFF, self.magic);
        wr_u32(b, VERSION_OFF, self.version);
        wr_u32(b, ROOT_OFF, self.root);
        wr_u16(b, ROOT_LEVEL_OFF, self.root_level);
        wr_u32(b, NULL_HEAD_OFF, self.null_head);
        wr_u32(b, NULL_TAIL_OFF, self.null_tail);
        wr_u16(b, VACUUM_ACTIVE_OFF, self.vacuum_active as u16);
        wr_u32(b, NULL_FILL_OFF, self.null_fill);
    }
}
