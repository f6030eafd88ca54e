//! Subscribing to wake-up hints: what a device signs to hold a push connection open.
//!
//! A hint carries nothing but "check in now"; the lease still comes, signed, from a
//! check-in. So the subscription is not a state change and does not use the check-in
//! counter (a device may reconnect many times between check-ins). It is bound to the
//! device key by its signature and to the moment by `device_time`, which the server
//! compares with its own clock (see [`MAX_SKEW_MS`]): a captured subscription is useless
//! minutes later, and while it lasts it only learns when that one device was told to check
//! in.

use crate::codec::{b64, unb64, Reader, WireError, Writer};
use crate::keys::{verify_device, DeviceKey};
use lienlock_domain::{Imei, Timestamp};
use serde::{Deserialize, Serialize};

/// Tag of version 1 of the subscription.
pub const MAGIC: &[u8; 8] = b"LLSUB001";

/// How far `device_time` may be from the server's clock. A device's trusted time follows
/// the server's time from its last check-in on a monotonic clock, so it is normally within
/// seconds; ten minutes allows for drift across long offline spells and reboots.
pub const MAX_SKEW_MS: i64 = 10 * 60 * 1000;

/// A device asking to be told when to check in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// The IMEI the device was enrolled by.
    pub imei: Imei,
    /// The device's identity key, which signs the request.
    pub device_key: [u8; 32],
    /// The device's trusted time.
    pub device_time: Timestamp,
    /// Random, so no two subscriptions are the same bytes.
    pub nonce: [u8; 16],
}

impl SubscribeRequest {
    /// Size of the encoding.
    pub const LEN: usize = 8 + 15 + 32 + 8 + 16;

    /// The canonical bytes that are signed and sent.
    pub fn encode(&self) -> Vec<u8> {
        Writer::new(MAGIC)
            .bytes(self.imei.as_bytes())
            .bytes(&self.device_key)
            .i64(self.device_time.as_millis())
            .bytes(&self.nonce)
            .finish()
    }

    /// Parses canonical bytes.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(buf, MAGIC)?;
        let imei = r.imei()?;
        let device_key = r.array()?;
        let device_time = Timestamp::from_millis(r.i64()?);
        let nonce = r.array()?;
        r.end()?;
        Ok(Self {
            imei,
            device_key,
            device_time,
            nonce,
        })
    }
}

/// `POST /device/v1/push` body.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedSubscribe {
    /// Base64 of [`SubscribeRequest::encode`].
    pub body: String,
    /// Base64 of the Ed25519 signature of those bytes by the device key.
    pub signature: String,
}

impl SignedSubscribe {
    /// Encodes and signs a request.
    pub fn seal(req: &SubscribeRequest, key: &DeviceKey) -> Self {
        let bytes = req.encode();
        Self {
            signature: b64(&key.sign(&bytes)),
            body: b64(&bytes),
        }
    }

    /// Decodes the request and verifies it was signed by the key it names.
    pub fn open(&self) -> Result<SubscribeRequest, WireError> {
        let bytes = unb64(&self.body, "body")?;
        let sig = unb64(&self.signature, "signature")?;
        let req = SubscribeRequest::decode(&bytes)?;
        verify_device(&req.device_key, &bytes, &sig)?;
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(key: &DeviceKey) -> SubscribeRequest {
        SubscribeRequest {
            imei: Imei::parse("490154203237518").unwrap(),
            device_key: key.public(),
            device_time: Timestamp::from_millis(1_700_000_000_000),
            nonce: [7; 16],
        }
    }

    #[test]
    fn round_trips_and_verifies() {
        let key = DeviceKey::generate();
        let sealed = SignedSubscribe::seal(&sample(&key), &key);
        assert_eq!(sealed.open().unwrap(), sample(&key));
        assert_eq!(sample(&key).encode().len(), SubscribeRequest::LEN);
        let forged = SignedSubscribe {
            body: sealed.body.clone(),
            signature: SignedSubscribe::seal(&sample(&key), &DeviceKey::generate()).signature,
        };
        assert_eq!(forged.open().unwrap_err(), WireError::BadSignature);
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut tagged = MAGIC.to_vec();
            tagged.extend(bytes);
            let _ = SubscribeRequest::decode(&tagged);
        }
    }
}
