//! Field-level validation results, shared by forms, imports and the API.

use serde::Serialize;

/// One problem with one field, in words the person who typed it can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects field errors while checking an input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|error| error.field == field)
            .map(|error| error.message.as_str())
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// `Ok(value)` when nothing was collected, otherwise the errors.
    pub fn into_result<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// The earliest date a form accepts (ethics approvals, credentials, agreement versions, filters).
pub const EARLIEST_DATE: time::Date = time::macros::date!(1900 - 01 - 01);
/// The latest date a form accepts.
pub const LATEST_DATE: time::Date = time::macros::date!(2200 - 12 - 31);

/// Parses a `YYYY-MM-DD` date from a form and bounds it to [`EARLIEST_DATE`]..=[`LATEST_DATE`]; the
/// error is a message for the person.
pub fn parse_date(raw: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(raw.trim(), &format)
        .map_err(|_| "Enter a date as YYYY-MM-DD, for example 2027-03-31.".to_owned())?;
    if !(EARLIEST_DATE..=LATEST_DATE).contains(&date) {
        return Err(format!(
            "Enter a date between {} and {}.",
            EARLIEST_DATE.year(),
            LATEST_DATE.year()
        ));
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_parsed_and_bounded() {
        assert_eq!(
            parse_date(" 2027-03-31 "),
            Ok(time::macros::date!(2027 - 03 - 31))
        );
        for bad in ["-4713-01-01", "1899-12-31", "2201-01-01"] {
            assert!(parse_date(bad).unwrap_err().contains("between"), "{bad}");
        }
        assert!(parse_date("99999-12-31").is_err());
        for malformed in ["2026-02-30", "31/03/2027", "", "2027-3-1x", "\u{0}"] {
            assert!(
                parse_date(malformed).unwrap_err().contains("YYYY-MM-DD"),
                "{malformed:?}"
            );
        }
    }
}
