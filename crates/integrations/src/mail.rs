//! Sending e-mail through an SMTP server.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid address '{address}': {reason}")]
    Address { address: String, reason: String },
    #[error("the SMTP server did not take the message: {0}")]
    Send(String),
}

/// An SMTP connection, configured by a URL: `smtp://host:port` (plain, for a local relay),
/// `smtp://user:password@host:587?tls=required` (STARTTLS) or `smtps://…:465` (TLS).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            // The URL may hold a password: say what is wrong without repeating it.
            .map_err(|e| MailError::Url(e.to_string().replace(url, "<url>")))?
            .build();
        let from = from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Address {
                address: from.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(SmtpMailer { transport, from })
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let to: Mailbox =
            to.parse()
                .map_err(|e: lettre::address::AddressError| MailError::Address {
                    address: to.to_owned(),
                    reason: e.to_string(),
                })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body.to_owned())
            .map_err(|e| MailError::Send(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Send(e.to_string()))
    }
}
