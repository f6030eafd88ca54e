//! Big-endian, length-prefixed primitives shared by every message.

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The first eight bytes are not the expected message tag (wrong message or version).
    #[error("unknown message tag")]
    BadMagic,
    /// Ran out of bytes in the middle of a field.
    #[error("message is truncated")]
    Truncated,
    /// Bytes left over after the last field.
    #[error("message has {0} trailing bytes")]
    Trailing(usize),
    /// A field holds a value outside its domain.
    #[error("invalid field {field}: {why}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A text field longer than the protocol allows.
    #[error("field {0} is too long")]
    TooLong(&'static str),
    /// Not valid base64.
    #[error("invalid base64 in {0}")]
    Base64(&'static str),
    /// The signature does not verify against the expected key.
    #[error("bad signature")]
    BadSignature,
    /// Signed by a key other than the pinned one.
    #[error("signed by unknown key {0}")]
    UnknownKey(String),
}

/// Longest text field, in bytes. Keeps every message small enough for a constrained device.
pub const MAX_TEXT: usize = 512;

/// Appends fields to a message.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    /// Starts a message with its eight-byte tag.
    pub fn new(magic: &[u8; 8]) -> Self {
        Self(magic.to_vec())
    }
    /// Raw bytes of fixed length.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    /// One byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// Four bytes, big-endian.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    /// Eight bytes, big-endian.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    /// Eight bytes, big-endian two's complement.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    /// A u16 big-endian length, then UTF-8. Text over [`MAX_TEXT`] is a programming error
    /// upstream (inputs are bounded at the API), so it is cut at a character boundary
    /// rather than producing an undecodable message.
    pub fn text(&mut self, s: &str) -> &mut Self {
        let mut end = s.len().min(MAX_TEXT);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let s = &s[..end];
        self.bytes(&(s.len() as u16).to_be_bytes())
            .bytes(s.as_bytes())
    }
    /// The finished message.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// Reads fields from a message, refusing anything short, long or malformed.
#[derive(Debug)]
pub struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// Checks the tag and positions after it.
    pub fn new(buf: &'a [u8], magic: &[u8; 8]) -> Result<Self, WireError> {
        match buf.strip_prefix(magic.as_slice()) {
            Some(rest) => Ok(Self(rest)),
            None => Err(WireError::BadMagic),
        }
    }
    /// `N` raw bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        if self.0.len() < N {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }
    /// Four bytes, big-endian.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// Eight bytes, big-endian.
    pub fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// Eight bytes, big-endian two's complement.
    pub fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// A length-prefixed UTF-8 string of at most [`MAX_TEXT`] bytes.
    pub fn text(&mut self, field: &'static str) -> Result<String, WireError> {
        let len = usize::from(u16::from_be_bytes(self.array()?));
        if len > MAX_TEXT {
            return Err(WireError::TooLong(field));
        }
        if self.0.len() < len {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(head.to_vec()).map_err(|_| WireError::Invalid {
            field,
            why: "not UTF-8".into(),
        })
    }
    /// A 15-digit IMEI with a correct check digit.
    pub fn imei(&mut self) -> Result<lienlock_domain::Imei, WireError> {
        let digits: [u8; 15] = self.array()?;
        std::str::from_utf8(&digits)
            .ok()
            .and_then(|s| lienlock_domain::Imei::parse(s).ok())
            .ok_or_else(|| WireError::Invalid {
                field: "imei",
                why: "not a valid IMEI".into(),
            })
    }

    /// Succeeds only if every byte was consumed.
    pub fn end(self) -> Result<(), WireError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.0.len()))
        }
    }
}

/// Standard base64 with padding, as used in every JSON envelope.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads [`b64`] back.
pub fn unb64(s: &str, field: &'static str) -> Result<Vec<u8>, WireError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| WireError::Base64(field))
}
