//! The partition that survives a factory reset: identity, provisioning, counter, release.
//!
//! Damage here is an error, not a default: a made-up counter could be reused (and refused by
//! the server as a replay), a made-up identity would cut the device off from its enrollment.
//! The one exception is the release marker, which is re-verified like a lease: if it does
//! not verify the device is simply not released yet, and the server says so again at the
//! next check-in.

use crate::atomic;
use crate::config::Provisioning;
use crate::error::AgentError;
use crate::layout::Layout;
use crate::verify::{self, Verifier};
use lienlock_wire::{DeviceKey, LeaseEnvelope};

/// The provisioning facts, `None` before the first start completed.
pub(crate) fn read_provisioning(layout: &Layout) -> Result<Option<Provisioning>, AgentError> {
    let path = layout.provisioning();
    let Some(bytes) = atomic::read(&path).map_err(|e| AgentError::io(&path, e))? else {
        return Ok(None);
    };
    Provisioning::from_json(&bytes)
        .map(Some)
        .map_err(|why| AgentError::corrupt(&path, why))
}

pub(crate) fn write_provisioning(layout: &Layout, p: &Provisioning) -> Result<(), AgentError> {
    let path = layout.provisioning();
    atomic::write(&path, &p.to_json()).map_err(|e| AgentError::io(&path, e))
}

pub(crate) fn read_identity(layout: &Layout) -> Result<DeviceKey, AgentError> {
    let path = layout.identity();
    let bytes = atomic::read(&path)
        .map_err(|e| AgentError::io(&path, e))?
        .ok_or_else(|| AgentError::corrupt(&path, "identity key is missing"))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| AgentError::corrupt(&path, "identity key is not text"))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed)
        .map_err(|_| AgentError::corrupt(&path, "identity key is not 64 hex characters"))?;
    Ok(DeviceKey::from_secret(seed))
}

pub(crate) fn write_identity(layout: &Layout, key: &DeviceKey) -> Result<(), AgentError> {
    let path = layout.identity();
    let text = format!("{}\n", hex::encode(key.secret()));
    atomic::write(&path, text.as_bytes()).map_err(|e| AgentError::io(&path, e))
}

/// The last counter used (0 before the first check-in).
pub(crate) fn read_counter(layout: &Layout) -> Result<u64, AgentError> {
    let path = layout.counter();
    let bytes = atomic::read(&path)
        .map_err(|e| AgentError::io(&path, e))?
        .ok_or_else(|| AgentError::corrupt(&path, "check-in counter is missing"))?;
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| AgentError::corrupt(&path, "check-in counter is not a number"))
}

pub(crate) fn write_counter(layout: &Layout, counter: u64) -> Result<(), AgentError> {
    let path = layout.counter();
    atomic::write(&path, format!("{counter}\n").as_bytes()).map_err(|e| AgentError::io(&path, e))
}

/// Whether a genuine release lease for this device is on record.
pub(crate) fn read_released(layout: &Layout, verifier: &Verifier) -> bool {
    verifier
        .load(&layout.released())
        .is_some_and(|v| v.lease.state == lienlock_domain::LeaseState::Released)
}

pub(crate) fn write_released(layout: &Layout, envelope: &LeaseEnvelope) -> Result<(), AgentError> {
    let path = layout.released();
    verify::store(&path, envelope).map_err(|e| AgentError::io(&path, e))
}
