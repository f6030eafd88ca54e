//! The partition a factory reset wipes: the held lease and the highest server time seen.
//!
//! Everything here is advisory in the safe direction: losing it leaves the device with no
//! lease, which locks it until the next successful check-in.

use crate::atomic;
use crate::error::AgentError;
use crate::layout::Layout;
use crate::verify::{self, VerifiedLease, Verifier};
use lienlock_domain::Timestamp;
use lienlock_wire::LeaseEnvelope;
use std::fs;
use std::io;

/// The held lease, if one is on disk and still verifies.
pub(crate) fn read_lease(layout: &Layout, verifier: &Verifier) -> Option<VerifiedLease> {
    verifier.load(&layout.lease())
}

pub(crate) fn write_lease(layout: &Layout, envelope: &LeaseEnvelope) -> io::Result<()> {
    verify::store(&layout.lease(), envelope)
}

/// The highest server `issued_at` seen; a missing or unreadable file is `None`.
pub(crate) fn read_server_time(layout: &Layout) -> Option<Timestamp> {
    let bytes = atomic::read(&layout.server_time()).ok()??;
    let ms = std::str::from_utf8(&bytes)
        .ok()?
        .trim()
        .parse::<i64>()
        .ok()?;
    Some(Timestamp::from_millis(ms))
}

pub(crate) fn write_server_time(layout: &Layout, t: Timestamp) -> io::Result<()> {
    atomic::write(
        &layout.server_time(),
        format!("{}\n", t.as_millis()).as_bytes(),
    )
}

/// Empties the user partition, leaving the directory in place.
pub(crate) fn wipe(layout: &Layout) -> Result<(), AgentError> {
    let dir = layout.user_dir();
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(AgentError::io(&dir, e)),
    }
    atomic::create_dir(&dir).map_err(|e| AgentError::io(&dir, e))
}
