//! Quantity parsing: suffixes, and what is refused.

use super::*;

#[test]
fn parses_decimal_and_binary_suffixes() {
    assert_eq!(parse_bits("10M"), Ok(10_000_000));
    assert_eq!(parse_bits("512k"), Ok(512_000));
    assert_eq!(parse_bits("1Gi"), Ok(1 << 30));
    assert_eq!(parse_bits("3Ki"), Ok(3072));
    assert_eq!(parse_bits("2T"), Ok(2_000_000_000_000));
    assert_eq!(parse_bits("1500"), Ok(1500));
}

#[test]
fn rejects_bad_syntax_zero_and_overflow() {
    for bad in ["", "M", "10m", "1.5M", "-1", "10 M", "10MB", "k10"] {
        assert!(
            matches!(parse_bits(bad), Err(QuantityError::Syntax(_))),
            "{bad}"
        );
    }
    assert_eq!(parse_bits("0k"), Err(QuantityError::Zero("0k".into())));
    assert!(matches!(
        parse_bits("99999999999999999999"),
        Err(QuantityError::Overflow(_))
    ));
    assert!(matches!(
        parse_bits("20000000Ti"),
        Err(QuantityError::Overflow(_))
    ));
}
