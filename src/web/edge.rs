//! One check for text at the edge: before any handler runs, the path, every query parameter and every
//! field of a form (urlencoded or multipart, whose files are left alone) or JSON body is refused when
//! it holds a control character that no person types (NUL, escape, the C1 controls …) or bytes that
//! are not UTF-8. Multi-line text may hold newlines and tabs (in bodies); the path and the query
//! string may hold none.
//!
//! Pages answer 400 with a page that names the refused field (404 for a path, which can name nothing);
//! the machine APIs answer their JSON error naming the parameter.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::ErrorPage;

/// Why a piece of text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A control character other than newline, carriage return or tab (or any of those where a single
    /// line is expected).
    ControlCharacter,
    /// Percent-encoded bytes that do not form UTF-8.
    NotUtf8,
}

impl Refusal {
    fn describe(self) -> &'static str {
        match self {
            Self::ControlCharacter => {
                "contains a control character (such as NUL), which cannot be stored"
            }
            Self::NotUtf8 => "is not valid UTF-8 text",
        }
    }
}

/// Where a refused piece of text was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedText {
    /// `path`, or the name of the parameter or field (for JSON, its path such as `team[0].name`).
    pub field: String,
    pub refusal: Refusal,
}

impl RefusedText {
    /// The message shown to the person or machine that sent it.
    pub fn message(&self) -> String {
        if self.field == "path" {
            format!("The address {}.", self.refusal.describe())
        } else {
            format!("The field “{}” {}.", self.field, self.refusal.describe())
        }
    }
}

/// Whether `text` may be stored: single-line text holds no control character at all; multi-line text
/// may also hold newlines, carriage returns and tabs.
pub fn check_text(text: &str, multi_line: bool) -> Result<(), Refusal> {
    let allowed = |c: char| multi_line && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        Err(Refusal::ControlCharacter)
    } else {
        Ok(())
    }
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space), refusing bytes that
/// are not UTF-8 instead of replacing them.
fn decode_component(raw: &[u8]) -> Result<String, Refusal> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    let bytes: Vec<u8> = percent_decode(&spaced);
    String::from_utf8(bytes).map_err(|_| Refusal::NotUtf8)
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut index = 0;
    while index < raw.len() {
        if raw[index] == b'%'
            && index + 2 < raw.len()
            && let (Some(high), Some(low)) = (hex_value(raw[index + 1]), hex_value(raw[index + 2]))
        {
            out.push(high * 16 + low);
            index += 3;
        } else {
            out.push(raw[index]);
            index += 1;
        }
    }
    out
}

fn hex_value(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// Checks every pair of an urlencoded string (a query string or a form body).
pub fn check_urlencoded(raw: &[u8], multi_line: bool) -> Result<(), RefusedText> {
    for pair in raw
        .split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
    {
        let mut parts = pair.splitn(2, |&byte| byte == b'=');
        let raw_name = parts.next().unwrap_or_default();
        let raw_value = parts.next().unwrap_or_default();
        let name = decode_component(raw_name).map_err(|refusal| RefusedText {
            field: String::from_utf8_lossy(raw_name).into_owned(),
            refusal,
        })?;
        let shown_name = printable(&name);
        check_text(&name, false).map_err(|refusal| RefusedText {
            field: shown_name.clone(),
            refusal,
        })?;
        let value = decode_component(raw_value).map_err(|refusal| RefusedText {
            field: shown_name.clone(),
            refusal,
        })?;
        check_text(&value, multi_line).map_err(|refusal| RefusedText {
            field: shown_name,
            refusal,
        })?;
    }
    Ok(())
}

/// Checks every string (keys included) of a JSON document; multi-line text is allowed.
pub fn check_json(value: &Value) -> Result<(), RefusedText> {
    fn walk(value: &Value, path: &str) -> Result<(), RefusedText> {
        let refuse = |field: &str, refusal| RefusedText {
            field: if field.is_empty() {
                "body".to_owned()
            } else {
                field.to_owned()
            },
            refusal,
        };
        match value {
            Value::String(text) => check_text(text, true).map_err(|refusal| refuse(path, refusal)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(index, item)| walk(item, &format!("{path}[{index}]"))),
            Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
                let field = if path.is_empty() {
                    printable(key)
                } else {
                    format!("{path}.{}", printable(key))
                };
                check_text(key, false).map_err(|refusal| refuse(&field, refusal))?;
                walk(item, &field)
            }),
            _ => Ok(()),
        }
    }
    walk(value, "")
}

/// A field name as it can be shown: control characters replaced, at most 60 characters.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '�' } else { c })
        .take(60)
        .collect()
}

/// The middleware: checks the path, the query string and form or JSON bodies before the handler, and
/// gives an extractor's plain-text rejection the form of the interface that was asked.
pub async fn check_request(request: Request, next: Next, body_limit: usize) -> Response {
    let interface = if request.uri().path().starts_with("/api/3/") {
        Interface::Ckan
    } else if request.uri().path().starts_with("/api/") {
        Interface::Json
    } else {
        Interface::Pages
    };
    let response = refuse_bad_text(request, next, body_limit, interface).await;
    in_house_style(interface, response).await
}

/// An extractor's rejection (a body of the wrong type, a form or query that does not deserialize …),
/// which axum answers in plain text, as the interface answers its own errors: the error page for
/// pages, the JSON error for `/api/v1`. The status stays; CKAN's envelope is left to its handler.
async fn in_house_style(interface: Interface, response: Response) -> Response {
    let plain_text = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/plain"));
    let status = response.status();
    if !status.is_client_error() || !plain_text || matches!(interface, Interface::Ckan) {
        return response;
    }
    let message = match to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let message = if message.is_empty() {
        "The request could not be read.".to_owned()
    } else {
        message
    };
    match interface {
        Interface::Json => {
            let body = serde_json::json!({
                "error": {"status": status.as_u16(), "code": "bad_request", "message": message}
            });
            (status, axum::Json(body)).into_response()
        }
        _ => ErrorPage::new(status, message).into_response(),
    }
}

async fn refuse_bad_text(
    request: Request,
    next: Next,
    body_limit: usize,
    is_api: Interface,
) -> Response {
    let path = request.uri().path().as_bytes().to_vec();
    let decoded_path = String::from_utf8(percent_decode(&path));
    let path_check = match decoded_path {
        Err(_) => Err(Refusal::NotUtf8),
        Ok(text) => check_text(&text, false),
    };
    if let Err(refusal) = path_check {
        return refuse(
            is_api,
            RefusedText {
                field: "path".to_owned(),
                refusal,
            },
        );
    }
    if let Some(query) = request.uri().query()
        && let Err(refused) = check_urlencoded(query.as_bytes(), false)
    {
        return refuse(is_api, refused);
    }

    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let body_kind = match content_type.as_deref() {
        Some("application/x-www-form-urlencoded") => BodyKind::Form,
        Some(json) if json == "application/json" || json.ends_with("+json") => BodyKind::Json,
        Some("multipart/form-data") => BodyKind::Multipart,
        _ => return next.run(request).await,
    };
    // Uploads may be larger than other bodies; the limit layers outside have already capped them.
    let limit = match body_kind {
        BodyKind::Multipart => body_limit.max(super::upload::MAX_UPLOAD_REQUEST_BYTES),
        _ => body_limit,
    };

    let (parts, body) = request.into_parts();
    let bytes: Bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ErrorPage::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request is too large.".to_owned(),
            )
            .into_response();
        }
    };
    let checked = match body_kind {
        BodyKind::Form => check_urlencoded(&bytes, true),
        // A body that is not JSON at all is left to the handler, which says so in its own words.
        BodyKind::Json => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => check_json(&value),
            Err(_) => Ok(()),
        },
        BodyKind::Multipart => check_multipart(&parts.headers, bytes.clone()).await,
    };
    if let Err(refused) = checked {
        return refuse(is_api, refused);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

enum BodyKind {
    Form,
    Json,
    Multipart,
}

/// Checks the text fields of a multipart form (multi-line text allowed); files are left to their
/// handlers. A body that is not multipart at all is left to the handler too.
async fn check_multipart(headers: &axum::http::HeaderMap, bytes: Bytes) -> Result<(), RefusedText> {
    use axum::extract::{FromRequest, Multipart};
    let mut request = Request::new(Body::from(bytes));
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        request
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
        return Ok(());
    };
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.file_name().is_some() {
            continue;
        }
        let name = printable(field.name().unwrap_or(""));
        let Ok(value) = field.bytes().await else {
            return Ok(());
        };
        let refuse = |refusal| RefusedText {
            field: name.clone(),
            refusal,
        };
        let text = std::str::from_utf8(&value).map_err(|_| refuse(Refusal::NotUtf8))?;
        check_text(text, true).map_err(refuse)?;
    }
    Ok(())
}

/// Who is asking, for the form of the refusal.
#[derive(Clone, Copy)]
enum Interface {
    Pages,
    /// `/api/v1`: its JSON error naming the parameter.
    Json,
    /// The CKAN Action API: CKAN's envelope with a validation error for the field.
    Ckan,
}

fn refuse(interface: Interface, refused: RefusedText) -> Response {
    tracing::info!(field = %refused.field, reason = ?refused.refusal, "refused text at the edge");
    // No page or record has such a name: a bad path is "not found", with the reason.
    let status = if refused.field == "path" {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    };
    if let Interface::Ckan = interface {
        let mut error = serde_json::Map::new();
        error.insert("__type".into(), "Validation Error".into());
        error.insert(
            refused.field.clone(),
            serde_json::json!([refused.message()]),
        );
        let body = serde_json::json!({"help": "", "success": false, "error": error});
        return (StatusCode::CONFLICT, axum::Json(body)).into_response();
    }
    if let Interface::Json = interface {
        let body = serde_json::json!({
            "error": {
                "status": status.as_u16(),
                "code": if status == StatusCode::NOT_FOUND { "not_found" } else { "invalid_parameter" },
                "message": refused.message(),
                "parameter": refused.field,
            }
        });
        (status, axum::Json(body)).into_response()
    } else {
        ErrorPage::new(status, refused.message()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_newlines_only_in_multi_line_text() {
        assert_eq!(check_text("plain text, ünïcode ✓", false), Ok(()));
        assert_eq!(check_text("a\u{0}b", true), Err(Refusal::ControlCharacter));
        assert_eq!(
            check_text("esc\u{1b}[31m", true),
            Err(Refusal::ControlCharacter)
        );
        assert_eq!(
            check_text("c1 \u{85}", true),
            Err(Refusal::ControlCharacter)
        );
        assert_eq!(
            check_text("del \u{7f}", true),
            Err(Refusal::ControlCharacter)
        );
        assert_eq!(check_text("two\nlines\twith tab\r\n", true), Ok(()));
        assert_eq!(
            check_text("two\nlines", false),
            Err(Refusal::ControlCharacter)
        );
    }

    #[test]
    fn urlencoded_pairs_are_decoded_strictly() {
        assert_eq!(check_urlencoded(b"q=lung+ct&page=2", false), Ok(()));
        assert_eq!(check_urlencoded(b"q=%E2%9C%93", false), Ok(()));
        let nul = check_urlencoded(b"email=a%00b", true).unwrap_err();
        assert_eq!(nul.field, "email");
        assert_eq!(nul.refusal, Refusal::ControlCharacter);
        let latin1 = check_urlencoded(b"name=%FF%FE", true).unwrap_err();
        assert_eq!(latin1.refusal, Refusal::NotUtf8);
        assert!(check_urlencoded(b"next=%2F%0Ax", false).is_err());
        assert_eq!(check_urlencoded(b"message=a%0D%0Ab", true), Ok(()));
        assert!(check_urlencoded(b"message=a%0D%0Ab", false).is_err());
        // A stray percent sign is kept as it is.
        assert_eq!(check_urlencoded(b"q=100%", false), Ok(()));
        assert_eq!(check_urlencoded(b"q=%4", false), Ok(()));
        let bad_name = check_urlencoded(b"a%00=1", true).unwrap_err();
        assert_eq!(bad_name.field, "a�");
    }

    #[test]
    fn json_strings_and_keys_are_checked_with_their_path() {
        let good = serde_json::json!({"name": "Ada", "notes": "two\nlines", "n": 1});
        assert_eq!(check_json(&good), Ok(()));
        let bad = serde_json::json!({"team": [{"name": "ok"}, {"name": "a\u{0}b"}]});
        assert_eq!(check_json(&bad).unwrap_err().field, "team[1].name");
        let bad_key = serde_json::json!({"x\u{0}": 1});
        assert!(check_json(&bad_key).is_err());
        assert_eq!(
            check_json(&Value::String("\u{0}".into()))
                .unwrap_err()
                .field,
            "body"
        );
    }

    #[test]
    fn messages_name_the_field() {
        let refused = RefusedText {
            field: "email".to_owned(),
            refusal: Refusal::ControlCharacter,
        };
        assert!(refused.message().contains("“email”"));
        let path = RefusedText {
            field: "path".to_owned(),
            refusal: Refusal::NotUtf8,
        };
        assert!(path.message().starts_with("The address"));
    }
}
