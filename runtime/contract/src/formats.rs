//! The `format`s the generated fast checks (`eventpulse_generated::check`) assert, each
//! **conservative**: it accepts only text that every JSON Schema 2020-12 validator asserting
//! formats accepts (RFC 3339 `date-time`, RFC 3986 `uri`), and declines the rest, which the
//! full validator then judges. A false "no" costs time; a false "yes" would store an invalid
//! event, so each errs on the side of "no".

/// An RFC 3339 `date-time` in its common shape: `YYYY-MM-DDTHH:MM:SS[.fraction]` then `Z` or
/// `±HH:MM`, a real calendar day, no leap second.
pub fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let (Some(year), Some(month), Some(day)) =
        (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10]))
    else {
        return false;
    };
    let (Some(hour), Some(minute), Some(second)) =
        (digits(&b[11..13]), digits(&b[14..16]), digits(&b[17..19]))
    else {
        return false;
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return false;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest {
        b"Z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            matches!((digits(&[*h1, *h2]), digits(&[*m1, *m2])), (Some(h), Some(m)) if h <= 23 && m <= 59)
        }
        _ => false,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// An RFC 3986 absolute URI in a plain shape: `scheme:`, then either `//` an authority
/// (optional `userinfo@`, a non-empty registered name, optional `:port` of digits) and a
/// path, or a path; then an optional `?query` and `#fragment`; only unreserved characters,
/// sub-delimiters, `: @ / ?` and well-formed `%XX` escapes. IP literals (`[...]`) and
/// everything else are declined.
pub fn is_uri(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return false;
    };
    let scheme = &b[..colon];
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(c));
    if !scheme_ok {
        return false;
    }
    let rest = &b[colon + 1..];
    let (before_fragment, fragment) = match rest.iter().position(|&c| c == b'#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (hier, query) = match before_fragment.iter().position(|&c| c == b'?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let tail_ok = |part: &[u8]| escaped_and(part, |c| pchar(c) || c == b'/' || c == b'?');
    if !query.is_none_or(tail_ok) || !fragment.is_none_or(tail_ok) {
        return false;
    }
    let path = match hier.strip_prefix(b"//") {
        Some(after) => {
            let end = after.iter().position(|&c| c == b'/').unwrap_or(after.len());
            if !authority(&after[..end]) {
                return false;
            }
            &after[end..]
        }
        None => hier,
    };
    escaped_and(path, |c| pchar(c) || c == b'/')
}

fn authority(a: &[u8]) -> bool {
    let host_port = match a.iter().position(|&c| c == b'@') {
        Some(at) => {
            let userinfo = &a[..at];
            if !escaped_and(userinfo, |c| unreserved(c) || sub_delim(c) || c == b':') {
                return false;
            }
            &a[at + 1..]
        }
        None => a,
    };
    let (host, port) = match host_port.iter().position(|&c| c == b':') {
        Some(i) => (&host_port[..i], Some(&host_port[i + 1..])),
        None => (host_port, None),
    };
    !host.is_empty()
        && escaped_and(host, |c| unreserved(c) || sub_delim(c))
        && port.is_none_or(|p| (1..=5).contains(&p.len()) && p.iter().all(u8::is_ascii_digit))
}

/// Every byte of `part` is allowed by `ok`, or starts a `%XX` escape.
fn escaped_and(part: &[u8], ok: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < part.len() {
        if part[i] == b'%' {
            let hex = |k: usize| part.get(k).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
        } else if ok(part[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~".contains(&c)
}

fn sub_delim(c: u8) -> bool {
    b"!$&'()*+,;=".contains(&c)
}

fn pchar(c: u8) -> bool {
    unreserved(c) || sub_delim(c) || c == b':' || c == b'@'
}

/// Length as JSON Schema counts it: Unicode code points.
pub fn char_count(s: &str) -> usize {
    // ASCII, the common case, is one byte per character.
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        for ok in [
            "2026-11-27T10:15:00Z",
            "2026-11-27T10:15:00.125+01:00",
            "2024-02-29T23:59:59.123456789-23:59",
            "0000-01-01T00:00:00Z",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2026-11-27t10:15:00Z",
            "2026-11-27T10:15:00z",
            "2026-02-29T10:15:00Z",
            "2100-02-29T10:15:00Z",
            "2026-04-31T10:15:00Z",
            "2026-13-01T10:15:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T23:59:60Z",
            "2026-11-27T10:15:00.Z",
            "2026-11-27T10:15:00",
            "2026-11-27T10:15:00+1:00",
            "2026-11-27T10:15:00+24:00",
            "2026-11-27T10:15:00+01:60",
            "2026-11-27 10:15:00Z",
            "２026-11-27T10:15:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn uris() {
        for ok in [
            "https://example.com/a/b?c=d&e=f#g",
            "https://user:pw@shop.example.com:8443/p%20q",
            "mailto:someone@example.com",
            "urn:isbn:0451450523",
            "http://example.com",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in [
            "",
            "example.com/path",
            "/relative",
            "1http://x",
            "http://exa mple.com",
            "http://example.com/%zz",
            "http://example.com/%4",
            "http://[::1]/",
            "http://a:b/",
            "http:///path",
            "http://example.com/a#b#c",
            "https://example.com/ü",
            "http://a@b@c/",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }

    #[test]
    fn counts_code_points() {
        assert_eq!(char_count("abc"), 3);
        assert_eq!(char_count("é😀"), 2);
    }
}
