//! Order-preserving key encoding.
//!
//! Keys are stored as bytes and compared bytewise, so every encoding here sorts the same way as
//! the value it encodes: integers big-endian (signed ones with the sign bit flipped), UUIDs as
//! their 16 bytes (v7 ids therefore sort by creation time), and strings escaped and terminated so
//! that a string inside a tuple never runs into the element after it (`("ab", 1)` sorts before
//! `("abc", 0)`, and `("ab",)` is an exact prefix of every key that starts with that element).

use uuid::Uuid;

/// A value that can be (part of) a store key.
pub trait Key {
    /// Appends the order-preserving encoding of `self` to `out`.
    fn encode_into(&self, out: &mut Vec<u8>);
}

/// The encoded bytes of a key.
pub fn encode<K: Key + ?Sized>(key: &K) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    key.encode_into(&mut out);
    out
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn encode_into(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}
unsigned!(u8, u16, u32, u64);

impl Key for i64 {
    fn encode_into(&self, out: &mut Vec<u8>) {
        // Flipping the sign bit maps i64::MIN..=i64::MAX onto 0..=u64::MAX in order.
        out.extend_from_slice(&((*self as u64) ^ (1 << 63)).to_be_bytes());
    }
}

impl Key for Uuid {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }
}

impl Key for str {
    fn encode_into(&self, out: &mut Vec<u8>) {
        // 0x00 inside the string becomes 0x00 0xFF and the string ends with 0x00 0x01: the
        // terminator sorts below any continuation, so shorter strings sort first, as they should.
        for &b in self.as_bytes() {
            out.push(b);
            if b == 0 {
                out.push(0xFF);
            }
        }
        out.extend_from_slice(&[0x00, 0x01]);
    }
}

impl Key for String {
    fn encode_into(&self, out: &mut Vec<u8>) {
        self.as_str().encode_into(out)
    }
}

impl<T: Key + ?Sized> Key for &T {
    fn encode_into(&self, out: &mut Vec<u8>) {
        (**self).encode_into(out)
    }
}

impl Key for () {
    fn encode_into(&self, _out: &mut Vec<u8>) {}
}

macro_rules! tuple {
    ($($name:ident),+) => {
        impl<$($name: Key),+> Key for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode_into(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode_into(out);)+
            }
        }
    };
}
tuple!(A);
tuple!(A, B);
tuple!(A, B, C);
tuple!(A, B, C, D);

/// The smallest byte string greater than every string that starts with `prefix`, or `None` when
/// there is none (an empty or all-0xFF prefix): the exclusive end of a prefix scan.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_sort_numerically() {
        assert!(encode(&1u64) < encode(&2u64));
        assert!(encode(&255u64) < encode(&256u64));
        assert!(encode(&-5i64) < encode(&-1i64));
        assert!(encode(&-1i64) < encode(&0i64));
        assert!(encode(&0i64) < encode(&7i64));
    }

    #[test]
    fn strings_in_tuples_sort_element_by_element() {
        assert!(encode(&("ab", 9u64)) < encode(&("abc", 0u64)));
        assert!(encode(&("a\0b", 1u64)) > encode(&("a", 1u64)));
        assert!(encode(&("", 1u64)) < encode(&("a", 0u64)));
        let prefix = encode(&("ab",));
        assert!(encode(&("ab", 3u64)).starts_with(&prefix));
        assert!(!encode(&("abc", 3u64)).starts_with(&prefix));
    }

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_end(&[]), None);
    }
}
