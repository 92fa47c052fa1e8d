//! Bandwidth quantities (`10M`, `512k`, `1Gi`) parsed to a number of bits.

use thiserror::Error;

/// Why a quantity does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QuantityError {
    /// Not digits followed by an optional known suffix.
    #[error("{0:?} is not a quantity like 10M, 512k or 1Gi")]
    Syntax(String),
    /// Zero, which would disable shaping in a confusing way.
    #[error("{0:?} is zero")]
    Zero(String),
    /// Larger than fits in 64 bits.
    #[error("{0:?} is too large")]
    Overflow(String),
}

/// Parses a quantity of bits: decimal suffixes `k`, `M`, `G`, `T` (powers of 1000) and binary
/// suffixes `Ki`, `Mi`, `Gi`, `Ti` (powers of 1024).
pub fn parse_bits(text: &str) -> Result<u64, QuantityError> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let multiplier: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return Err(QuantityError::Syntax(text.to_owned())),
    };
    if digits.is_empty() {
        return Err(QuantityError::Syntax(text.to_owned()));
    }
    let value: u64 = digits
        .parse()
        .map_err(|_| QuantityError::Overflow(text.to_owned()))?;
    if value == 0 {
        return Err(QuantityError::Zero(text.to_owned()));
    }
    value
        .checked_mul(multiplier)
        .ok_or_else(|| QuantityError::Overflow(text.to_owned()))
}

#[cfg(test)]
mod tests;
