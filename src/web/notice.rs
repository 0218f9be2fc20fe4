//! The messages a page shows after a redirect ("Your profile was saved."). A redirect carries only a
//! short code (`?notice=profile_saved`); the page shows the portal's own text for it, so nobody can send
//! a link that makes the portal say something it did not say. An unknown code shows nothing.

use std::convert::Infallible;

use axum::extract::{OptionalFromRequestParts, Query};
use axum::http::request::Parts;
use serde::Deserialize;

/// One message the portal shows after an action, named by what happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    // Signing in again.
    EmailVerified,
    PasswordReset,
    SignedOutEverywhere,
    AccountClosed,
    SignInExpired,
    // The account page.
    ProfileSaved,
    PasswordChanged,
    CredentialAdded,
    CredentialRemoved,
    TwoFactorDisabled,
    // Access requests.
    CommentAdded,
    ChangesRequested,
    VoteRecorded,
    VoteApproved,
    VoteRejected,
    RequestApproved,
    RequestRejected,
    RequestWithdrawn,
    RequestResubmitted,
    FileAttached,
    // Grants.
    AccessRevoked,
    AgreementAccepted,
    // The dataset editor.
    DatasetCreated,
    DatasetUnchanged,
    DatasetSaved,
    DatasetStatusChanged,
}

impl Notice {
    /// Every notice, for looking codes up.
    pub const ALL: [Self; 26] = [
        Self::EmailVerified,
        Self::PasswordReset,
        Self::SignedOutEverywhere,
        Self::AccountClosed,
        Self::SignInExpired,
        Self::ProfileSaved,
        Self::PasswordChanged,
        Self::CredentialAdded,
        Self::CredentialRemoved,
        Self::TwoFactorDisabled,
        Self::CommentAdded,
        Self::ChangesRequested,
        Self::VoteRecorded,
        Self::VoteApproved,
        Self::VoteRejected,
        Self::RequestApproved,
        Self::RequestRejected,
        Self::RequestWithdrawn,
        Self::RequestResubmitted,
        Self::FileAttached,
        Self::AccessRevoked,
        Self::AgreementAccepted,
        Self::DatasetCreated,
        Self::DatasetUnchanged,
        Self::DatasetSaved,
        Self::DatasetStatusChanged,
    ];

    /// The code in the URL.
    pub fn code(self) -> &'static str {
        match self {
            // The browser journeys wait for this one in the URL of the sign-in page.
            Self::EmailVerified => "verified",
            Self::PasswordReset => "password_reset",
            Self::SignedOutEverywhere => "signed_out_everywhere",
            Self::AccountClosed => "account_closed",
            Self::SignInExpired => "sign_in_expired",
            Self::ProfileSaved => "profile_saved",
            Self::PasswordChanged => "password_changed",
            Self::CredentialAdded => "credential_added",
            Self::CredentialRemoved => "credential_removed",
            Self::TwoFactorDisabled => "two_factor_disabled",
            Self::CommentAdded => "comment_added",
            Self::ChangesRequested => "changes_requested",
            Self::VoteRecorded => "vote_recorded",
            Self::VoteApproved => "vote_approved",
            Self::VoteRejected => "vote_rejected",
            Self::RequestApproved => "request_approved",
            Self::RequestRejected => "request_rejected",
            Self::RequestWithdrawn => "request_withdrawn",
            Self::RequestResubmitted => "request_resubmitted",
            Self::FileAttached => "file_attached",
            Self::AccessRevoked => "access_revoked",
            Self::AgreementAccepted => "agreement_accepted",
            Self::DatasetCreated => "dataset_created",
            Self::DatasetUnchanged => "dataset_unchanged",
            Self::DatasetSaved => "dataset_saved",
            Self::DatasetStatusChanged => "dataset_status_changed",
        }
    }

    /// What the page says.
    pub fn text(self) -> &'static str {
        match self {
            Self::EmailVerified => "Your e-mail address is confirmed. You can sign in now.",
            Self::PasswordReset => {
                "Your password was changed and every session was signed out. Sign in with the new password."
            }
            Self::SignedOutEverywhere => "You were signed out on every device.",
            Self::AccountClosed => "Your account is closed. Thank you for using the portal.",
            Self::SignInExpired => {
                "That sign-in was not completed in time. Please enter your password again."
            }
            Self::ProfileSaved => "Your profile was saved.",
            Self::PasswordChanged => {
                "Your password was changed; your other sessions were signed out."
            }
            Self::CredentialAdded => "The credential was added.",
            Self::CredentialRemoved => "The credential was removed.",
            Self::TwoFactorDisabled => {
                "Two-factor sign-in is off; your password alone signs you in now."
            }
            Self::CommentAdded => "Your comment was added.",
            Self::ChangesRequested => "The applicant was asked for changes.",
            Self::VoteRecorded => "Your vote was recorded.",
            Self::VoteApproved => "Your vote was recorded; with it the request is approved.",
            Self::VoteRejected => "Your vote was recorded; the request is rejected.",
            Self::RequestApproved => "The request is approved and access was granted.",
            Self::RequestRejected => "The request is rejected.",
            Self::RequestWithdrawn => "Your request was withdrawn.",
            Self::RequestResubmitted => "Your request was resubmitted to the committee.",
            Self::FileAttached => "The file was attached.",
            Self::AccessRevoked => "Access revoked.",
            Self::AgreementAccepted => "The new agreement was accepted.",
            Self::DatasetCreated => "Created as a draft.",
            Self::DatasetUnchanged => "Nothing changed.",
            Self::DatasetSaved => "Saved as a new version.",
            Self::DatasetStatusChanged => "Status changed.",
        }
    }

    /// The notice for a code; `None` for anything else.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|notice| notice.code() == code)
    }

    /// The notice whose text is exactly `text`, for operations that still answer with the message
    /// itself (the access workflow's outcomes).
    pub fn from_text(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|notice| notice.text() == text)
    }

    /// `path` with this notice in its query string (`path` has no query string of its own).
    pub fn on(self, path: &str) -> String {
        format!("{path}?notice={}", self.code())
    }
}

/// `Option<Notice>` as a handler argument: the notice named by the request's `notice` parameter, if it
/// names one.
impl<S: Send + Sync> OptionalFromRequestParts<S> for Notice {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(Query::<NoticeParam>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|Query(param)| param.notice)
            .and_then(|code| Self::from_code(&code)))
    }
}

/// The `notice` parameter of a query string; the request's other parameters are its handler's.
#[derive(Deserialize)]
struct NoticeParam {
    notice: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_round_trips_through_its_code() {
        for notice in Notice::ALL {
            assert_eq!(Notice::from_code(notice.code()), Some(notice), "{notice:?}");
            assert_eq!(Notice::from_text(notice.text()), Some(notice), "{notice:?}");
        }
    }

    #[test]
    fn codes_and_texts_are_distinct_and_codes_need_no_escaping() {
        let codes: std::collections::HashSet<_> = Notice::ALL.iter().map(|n| n.code()).collect();
        let texts: std::collections::HashSet<_> = Notice::ALL.iter().map(|n| n.text()).collect();
        assert_eq!(codes.len(), Notice::ALL.len());
        assert_eq!(texts.len(), Notice::ALL.len());
        for code in codes {
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
        }
    }

    #[test]
    fn anything_else_is_no_notice() {
        for code in [
            "",
            "Access+revoked.",
            "Access revoked.",
            "<script>alert(1)</script>",
            "PROFILE_SAVED",
            "profile_saved ",
        ] {
            assert_eq!(Notice::from_code(code), None, "{code}");
        }
    }

    #[tokio::test]
    async fn the_extractor_reads_only_known_codes() {
        async fn extract(uri: &str) -> Option<Notice> {
            let request = axum::http::Request::get(uri).body(()).unwrap();
            let (mut parts, ()) = request.into_parts();
            <Notice as OptionalFromRequestParts<()>>::from_request_parts(&mut parts, &())
                .await
                .unwrap()
        }
        assert_eq!(
            extract("/account?x=1&notice=profile_saved").await,
            Some(Notice::ProfileSaved)
        );
        assert_eq!(extract("/account").await, None);
        assert_eq!(extract("/account?notice=%3Cscript%3E").await, None);
        assert_eq!(
            Notice::AccessRevoked.on("/requests/7"),
            "/requests/7?notice=access_revoked"
        );
    }
}
