//! The texts of the account e-mails. Plain text, with absolute links to the portal's base URL.

use url::Url;

use super::db::VERIFY_EMAIL_LINK_HOURS;
use crate::format::link;
use crate::mail::Mail;

/// The link that confirms a new account's address.
pub fn verification(base_url: &Url, to: &str, name: &str, token: &str) -> Mail {
    let link = link(base_url, &format!("/verify-email?token={token}"));
    Mail {
        to: to.to_owned(),
        subject: "Confirm your e-mail address for radportal".to_owned(),
        body: format!(
            "Hello {name},\n\n\
             please confirm that this is your address by opening this link:\n\n{link}\n\n\
             The link works once, for {VERIFY_EMAIL_LINK_HOURS} hours. If you did not create an account, ignore this message.\n"
        ),
    }
}

/// What someone registering an address that already has an account is sent instead.
pub fn already_registered(base_url: &Url, to: &str) -> Mail {
    let sign_in = link(base_url, "/sign-in");
    let reset = link(base_url, "/forgot-password");
    Mail {
        to: to.to_owned(),
        subject: "You already have a radportal account".to_owned(),
        body: format!(
            "Hello,\n\n\
             someone (probably you) tried to create an account with this address, but it already has one.\n\n\
             Sign in: {sign_in}\nForgot the password? {reset}\n\n\
             If it was not you, you can ignore this message; nothing was changed.\n"
        ),
    }
}

/// The link to choose a new password.
pub fn reset_password(base_url: &Url, to: &str, name: &str, token: &str) -> Mail {
    let link = link(base_url, &format!("/reset-password?token={token}"));
    Mail {
        to: to.to_owned(),
        subject: "Reset your radportal password".to_owned(),
        body: format!(
            "Hello {name},\n\n\
             to choose a new password, open this link:\n\n{link}\n\n\
             The link works once, for one hour. If you did not ask for it, ignore this message; your \
             password stays as it is.\n"
        ),
    }
}

/// The warning after a password change or reset.
pub fn password_changed(base_url: &Url, to: &str, name: &str) -> Mail {
    let reset = link(base_url, "/forgot-password");
    Mail {
        to: to.to_owned(),
        subject: "Your radportal password was changed".to_owned(),
        body: format!(
            "Hello {name},\n\n\
             the password of your account was just changed and every session was signed out.\n\n\
             If this was not you, reset your password now ({reset}) and tell the portal's administrators.\n"
        ),
    }
}
