//! Mail templates: a subject, a plain-text and an HTML body, in MiniJinja (`{{ name }}`,
//! `{% if tracking_url %}`…). Values are HTML-escaped in the HTML body. A shop overrides any
//! part with a file `<data dir>/templates/<template>.subject`, `.txt` or `.html`, read when a
//! mail is made; a file that does not render (a syntax error) is logged and the built-in part
//! used instead, so a typo never stops the shop's mail.

use std::collections::BTreeMap;
use std::path::Path;

use super::Mail;

pub struct Template {
    /// The file name stem of its overrides, e.g. `order_confirmation`.
    pub name: &'static str,
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
}

/// The parts of a template, by the extension of their override files.
const PARTS: [&str; 3] = ["subject", "txt", "html"];

impl Template {
    /// The built-in template, without overrides.
    pub fn render(&'static self, to: &str, vars: &[(&str, &str)]) -> Mail {
        Loaded { template: self, custom: [None, None, None] }.render(to, vars)
    }

    /// The template with the shop's overrides from `data_dir/templates`, read now (before the
    /// write that enqueues the mail, so no file is read inside a transaction).
    pub async fn load(&'static self, data_dir: &Path) -> Loaded {
        let mut custom = [None, None, None];
        for (slot, ext) in custom.iter_mut().zip(PARTS) {
            let file = data_dir.join("templates").join(format!("{}.{ext}", self.name));
            *slot = tokio::fs::read_to_string(file).await.ok();
        }
        Loaded { template: self, custom }
    }
}

/// A template with whatever overrides the shop has for it.
pub struct Loaded {
    template: &'static Template,
    custom: [Option<String>; 3],
}

impl Loaded {
    pub fn render(&self, to: &str, vars: &[(&str, &str)]) -> Mail {
        let vars: BTreeMap<&str, &str> = vars.iter().copied().collect();
        let t = self.template;
        let built_in = [t.subject, t.text, t.html];
        let mut parts = PARTS.iter().zip(&self.custom).zip(built_in).map(|((ext, custom), built_in)| {
            let name = format!("{}.{ext}", t.name);
            if let Some(source) = custom {
                match fill(&name, source, &vars) {
                    Ok(out) => return out,
                    Err(e) => tracing::warn!(template = %name, error = %e, "a mail template override does not render: the built-in one is used"),
                }
            }
            fill(&name, built_in, &vars).unwrap_or_else(|e| {
                tracing::error!(template = %name, error = %e, "a built-in mail template does not render");
                built_in.to_string()
            })
        });
        let (subject, text, html) =
            (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        Mail {
            to: to.to_string(),
            // One line: a template's line breaks never reach the header.
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text,
            html,
        }
    }
}

/// Renders `source` as the template `name`: escaped for HTML when the name ends in `.html`.
fn fill(name: &str, source: &str, vars: &BTreeMap<&str, &str>) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") { minijinja::AutoEscape::Html } else { minijinja::AutoEscape::None }
    });
    env.set_keep_trailing_newline(true);
    env.template_from_named_str(name, source)?.render(vars)
}

pub const VERIFY_EMAIL: Template = Template {
    name: "verify_email",
    subject: "Confirm your email address",
    text: "Hello {{name}},\n\nPlease confirm your email address by opening this link:\n\n{{link}}\n\nThe link is valid for 24 hours. If you did not create an account, ignore this mail.\n",
    html: "<p>Hello {{name}},</p><p>Please confirm your email address:</p><p><a href=\"{{link}}\">Confirm my email</a></p><p>The link is valid for 24 hours. If you did not create an account, ignore this mail.</p>",
};

pub const RESET_PASSWORD: Template = Template {
    name: "reset_password",
    subject: "Reset your password",
    text: "Hello {{name}},\n\nSomeone asked to reset the password of your account. To choose a new password, open this link:\n\n{{link}}\n\nThe link works once and for 1 hour. If it was not you, ignore this mail: your password stays as it is.\n",
    html: "<p>Hello {{name}},</p><p>Someone asked to reset the password of your account.</p><p><a href=\"{{link}}\">Choose a new password</a></p><p>The link works once and for 1 hour. If it was not you, ignore this mail: your password stays as it is.</p>",
};

pub const ORDER_CONFIRMATION: Template = Template {
    name: "order_confirmation",
    subject: "Order {{order}} confirmed",
    text: "Hello {{name}},\n\nThank you for your order {{order}}.\n\n{{lines}}\nSubtotal: {{subtotal}} {{currency}}\n{% if coupon %}Discount ({{coupon}}): -{{discount}} {{currency}}\n{% endif %}Tax: {{tax}} {{currency}}\nShipping: {{shipping}} {{currency}}\nTotal: {{total}} {{currency}}\n\nShipping to: {{address}}\n\nSee your order at any time:\n{{link}}\n\nWe will let you know when it ships.\n",
    html: "<p>Hello {{name}},</p><p>Thank you for your order <b>{{order}}</b>.</p><pre>{{lines}}</pre><table><tr><td>Subtotal</td><td align=\"right\">{{subtotal}} {{currency}}</td></tr>{% if coupon %}<tr><td>Discount ({{coupon}})</td><td align=\"right\">-{{discount}} {{currency}}</td></tr>{% endif %}<tr><td>Tax</td><td align=\"right\">{{tax}} {{currency}}</td></tr><tr><td>Shipping</td><td align=\"right\">{{shipping}} {{currency}}</td></tr><tr><td><b>Total</b></td><td align=\"right\"><b>{{total}} {{currency}}</b></td></tr></table><p>Shipping to: {{address}}</p><p><a href=\"{{link}}\">See your order</a></p><p>We will let you know when it ships.</p>",
};

pub const ORDER_SHIPPED: Template = Template {
    name: "order_shipped",
    subject: "Order {{order}} has shipped",
    text: "Hello {{name}},\n\nYour order {{order}} is on its way to {{address}}.\nCarrier: {{carrier}}\nTracking number: {{tracking}}\n{% if tracking_url %}{{tracking_url}}\n{% endif %}\nYour order: {{link}}\n",
    html: "<p>Hello {{name}},</p><p>Your order <b>{{order}}</b> is on its way to {{address}}.</p><p>Carrier: {{carrier}}<br>Tracking number: {{tracking}}{% if tracking_url %}<br><a href=\"{{tracking_url}}\">Follow the parcel</a>{% endif %}</p><p><a href=\"{{link}}\">See your order</a></p>",
};

pub const ORDER_DELIVERED: Template = Template {
    name: "order_delivered",
    subject: "Order {{order}} was delivered",
    text: "Hello {{name}},\n\nYour order {{order}} was delivered. Enjoy! Returns are accepted for 30 days.\n",
    html: "<p>Hello {{name}},</p><p>Your order <b>{{order}}</b> was delivered. Enjoy! Returns are accepted for 30 days.</p>",
};

pub const ORDER_CANCELLED: Template = Template {
    name: "order_cancelled",
    subject: "Order {{order}} was cancelled",
    text: "Hello {{name}},\n\nYour order {{order}} was cancelled. Any payment made for it is refunded.\n",
    html: "<p>Hello {{name}},</p><p>Your order <b>{{order}}</b> was cancelled. Any payment made for it is refunded.</p>",
};

pub const ABANDONED_CART: Template = Template {
    name: "abandoned_cart",
    subject: "You left something in your cart",
    text: "Hello {{name}},\n\nYour cart still holds {{count}} item(s). Pick up where you left off:\n\n{{link}}\n",
    html: "<p>Hello {{name}},</p><p>Your cart still holds {{count}} item(s).</p><p><a href=\"{{link}}\">Back to my cart</a></p>",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_html_escaped() {
        let mail = VERIFY_EMAIL.render("a@b.co", &[("name", "<Ann>"), ("link", "http://x/verify?token=abc&x=1")]);
        assert!(mail.text.contains("Hello <Ann>,"));
        assert!(mail.text.contains("http://x/verify?token=abc&x=1"));
        assert!(mail.html.contains("Hello &lt;Ann&gt;,"));
        assert!(mail.html.contains("token=abc&amp;x=1"));
        assert!(!mail.text.contains("{{"));
    }
}
