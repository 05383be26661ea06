//! A 64-bit fingerprint of the values a decision writes (FNV-1a over them, each tagged and
//! length-prefixed), stored in `trades.content_hash`. A bulk re-log compares it inside SQLite
//! instead of reading back the whole row: equal fingerprints are a plain duplicate; anything
//! else (a different decision, or a row older than the column) goes to the canonical comparison
//! in [`super::conflict`]. The function is part of the stored data: change it and old rows only
//! take that slower path, never a wrong answer.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// Accumulates values in the order they are written.
pub struct Fingerprint(u64);

impl Fingerprint {
    pub fn new() -> Fingerprint {
        Fingerprint(OFFSET)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(PRIME);
        }
    }

    /// Text (or NULL), length-prefixed so that adjacent values cannot run together.
    pub fn text(&mut self, value: Option<&str>) {
        match value {
            None => self.bytes(&[0]),
            Some(s) => {
                self.bytes(&[1]);
                self.bytes(&(s.len() as u64).to_le_bytes());
                self.bytes(s.as_bytes());
            }
        }
    }

    pub fn int(&mut self, value: Option<i64>) {
        match value {
            None => self.bytes(&[0]),
            Some(i) => {
                self.bytes(&[2]);
                self.bytes(&i.to_le_bytes());
            }
        }
    }

    /// A decimal by its value (normalized: 5.0 and 5.00 are one amount).
    pub fn decimal(&mut self, value: Option<rust_decimal::Decimal>) {
        match value {
            None => self.bytes(&[0]),
            Some(d) => {
                self.bytes(&[4]);
                self.bytes(&d.normalize().serialize());
            }
        }
    }

    pub fn real(&mut self, value: Option<f64>) {
        match value {
            None => self.bytes(&[0]),
            Some(f) => {
                self.bytes(&[3]);
                self.bytes(&f.to_bits().to_le_bytes());
            }
        }
    }

    /// The value stored (SQLite integers are signed).
    pub fn finish(&self) -> i64 {
        self.0 as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[Option<&str>]) -> i64 {
        let mut f = Fingerprint::new();
        for v in values {
            f.text(*v);
        }
        f.finish()
    }

    #[test]
    fn values_do_not_run_together() {
        assert_ne!(of(&[Some("ab"), Some("c")]), of(&[Some("a"), Some("bc")]));
        assert_ne!(of(&[None, Some("")]), of(&[Some(""), None]));
        assert_eq!(of(&[Some("a"), None]), of(&[Some("a"), None]));
        let mut int = Fingerprint::new();
        int.int(Some(0));
        let mut real = Fingerprint::new();
        real.real(Some(0.0));
        assert_ne!(int.finish(), real.finish());
    }
}
