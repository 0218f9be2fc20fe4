//! Uploaded files: the size limit, the type read from the bytes (never from the name or the browser's
//! word) and safe file names.

/// The largest file accepted, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;

/// The file types accepted: PDF, PNG and JPEG, told apart by their first bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else {
        None
    }
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    }
}

/// A file name safe to store and to put in a header: letters, digits, `.`, `-` and `_` only, at most
/// 100 characters, ending in the extension of its real type.
pub fn safe_file_name(raw: &str, content_type: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
    let mut clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(90)
        .collect();
    clean = clean.trim_matches('_').to_owned();
    if clean.is_empty() {
        clean = "evidence".to_owned();
    }
    format!("{clean}.{}", extension(content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"<html><script>"), None);
        assert_eq!(sniff(b"MZ\x90\x00"), None);
    }

    #[test]
    fn names_are_cleaned_and_take_the_real_extension() {
        assert_eq!(
            safe_file_name("CITI cert (2026).pdf", "application/pdf"),
            "CITI_cert__2026.pdf"
        );
        assert_eq!(
            safe_file_name("../../etc/passwd", "image/png"),
            "passwd.png"
        );
        assert_eq!(safe_file_name("x\".html", "image/jpeg"), "x.jpg");
        assert_eq!(safe_file_name("", "application/pdf"), "evidence.pdf");
    }
}
