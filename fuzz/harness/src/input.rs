//! How a target reads several values out of one input: fields separated by NUL bytes, which
//! neither JSON text nor environment variables contain, so seeds stay readable.

/// The NUL-separated fields of `data`; a missing field is `None`.
pub struct Fields<'a>(std::slice::Split<'a, u8, fn(&u8) -> bool>);

impl<'a> Fields<'a> {
    /// Splits `data` at NUL bytes.
    pub fn new(data: &'a [u8]) -> Self {
        Fields(data.split(|b| *b == 0))
    }

    /// The next field's bytes.
    pub fn bytes(&mut self) -> Option<&'a [u8]> {
        self.0.next()
    }

    /// The next field as text (invalid UTF-8 replaced).
    pub fn text(&mut self) -> Option<String> {
        self.bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// The first byte (a selector between the target's modes) and the rest.
pub fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}
