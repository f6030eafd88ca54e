//! A dispute opened from the phone ("I paid: receipt ..."), signed by the device key.

use crate::codec::{b64, unb64, Reader, WireError, Writer};
use crate::keys::{verify_device, DeviceKey};
use lienlock_domain::{Imei, Timestamp};
use serde::{Deserialize, Serialize};

/// Tag of version 1 of the dispute request.
pub const MAGIC: &[u8; 8] = b"LLDSP001";

/// The borrower says the lock is wrong. Shares the check-in counter: it is the same device
/// speaking, and one counter means one replay rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRequest {
    /// The IMEI the device was enrolled by.
    pub imei: Imei,
    /// The device's identity key, which signs the request.
    pub device_key: [u8; 32],
    /// Strictly increasing, shared with check-ins.
    pub counter: u64,
    /// The device's trusted time.
    pub device_time: Timestamp,
    /// What the borrower typed (a receipt reference, say); at most 500 bytes.
    pub reason: String,
}

impl DisputeRequest {
    /// The canonical bytes that are signed and sent.
    pub fn encode(&self) -> Vec<u8> {
        Writer::new(MAGIC)
            .bytes(self.imei.as_bytes())
            .bytes(&self.device_key)
            .u64(self.counter)
            .i64(self.device_time.as_millis())
            .text(&self.reason)
            .finish()
    }

    /// Parses canonical bytes.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf, MAGIC)?;
        let imei = r.imei()?;
        let device_key = r.array()?;
        let counter = r.u64()?;
        let device_time = Timestamp::from_millis(r.i64()?);
        let reason = r.text("reason")?;
        r.end()?;
        Ok(Self {
            imei,
            device_key,
            counter,
            device_time,
            reason,
        })
    }
}

/// `POST /device/v1/dispute` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedDispute {
    /// Base64 of [`DisputeRequest::encode`].
    pub body: String,
    /// Base64 of the Ed25519 signature of those bytes by the device key.
    pub signature: String,
}

impl SignedDispute {
    /// Encodes and signs a request.
    pub fn seal(req: &DisputeRequest, key: &DeviceKey) -> Self {
        let bytes = req.encode();
        Self {
            signature: b64(&key.sign(&bytes)),
            body: b64(&bytes),
        }
    }

    /// Decodes the request and verifies it was signed by the key it names.
    pub fn open(&self) -> Result<DisputeRequest, WireError> {
        let bytes = unb64(&self.body, "body")?;
        let sig = unb64(&self.signature, "signature")?;
        let req = DisputeRequest::decode(&bytes)?;
        verify_device(&req.device_key, &bytes, &sig)?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(key: &DeviceKey) -> DisputeRequest {
        DisputeRequest {
            imei: Imei::parse("490154203237518").unwrap(),
            device_key: key.public(),
            counter: 9,
            device_time: Timestamp::from_millis(1_700_000_000_000),
            reason: "I paid: receipt MP-7781".into(),
        }
    }

    #[test]
    fn round_trips_and_verifies() {
        let key = DeviceKey::generate();
        let sealed = SignedDispute::seal(&sample(&key), &key);
        assert_eq!(sealed.open().unwrap(), sample(&key));
        let other = DeviceKey::generate();
        let forged = SignedDispute {
            body: sealed.body.clone(),
            signature: SignedDispute::seal(&sample(&key), &other).signature,
        };
        assert_eq!(forged.open().unwrap_err(), WireError::BadSignature);
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut tagged = MAGIC.to_vec();
            tagged.extend(bytes);
            let _ = DisputeRequest::decode(&tagged);
        }
    }
}
