//! Mail templates: a subject, a plain-text and an HTML body with `{{name}}` placeholders. Values
//! are HTML-escaped in the HTML body. The order mails add their templates here.

use super::Mail;

pub struct Template {
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
}

impl Template {
    pub fn render(&self, to: &str, vars: &[(&str, &str)]) -> Mail {
        let fill = |text: &str, escape: bool| {
            vars.iter().fold(text.to_string(), |acc, (name, value)| {
                let value = if escape { html_escape(value) } else { value.to_string() };
                acc.replace(&format!("{{{{{name}}}}}"), &value)
            })
        };
        Mail {
            to: to.to_string(),
            subject: fill(self.subject, false),
            text: fill(self.text, false),
            html: fill(self.html, true),
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

pub const VERIFY_EMAIL: Template = Template {
    subject: "Confirm your email address",
    text: "Hello {{name}},\n\nPlease confirm your email address by opening this link:\n\n{{link}}\n\nThe link is valid for 24 hours. If you did not create an account, ignore this mail.\n",
    html: "<p>Hello {{name}},</p><p>Please confirm your email address:</p><p><a href=\"{{link}}\">Confirm my email</a></p><p>The link is valid for 24 hours. If you did not create an account, ignore this mail.</p>",
};

pub const RESET_PASSWORD: Template = Template {
    subject: "Reset your password",
    text: "Hello {{name}},\n\nSomeone asked to reset the password of your account. To choose a new password, open this link:\n\n{{link}}\n\nThe link works once and for 1 hour. If it was not you, ignore this mail: your password stays as it is.\n",
    html: "<p>Hello {{name}},</p><p>Someone asked to reset the password of your account.</p><p><a href=\"{{link}}\">Choose a new password</a></p><p>The link works once and for 1 hour. If it was not you, ignore this mail: your password stays as it is.</p>",
};

pub const ORDER_CONFIRMATION: Template = Template {
    subject: "Order {{order}} confirmed",
    text: "Hello {{name}},\n\nThank you for your order {{order}}.\n\n{{lines}}\nSubtotal: {{subtotal}} {{currency}}\nTax: {{tax}} {{currency}}\nShipping: {{shipping}} {{currency}}\nTotal: {{total}} {{currency}}\n\nShipping to: {{address}}\n\nSee your order at any time:\n{{link}}\n\nWe will let you know when it ships.\n",
    html: "<p>Hello {{name}},</p><p>Thank you for your order <b>{{order}}</b>.</p><pre>{{lines}}</pre><table><tr><td>Subtotal</td><td align=\"right\">{{subtotal}} {{currency}}</td></tr><tr><td>Tax</td><td align=\"right\">{{tax}} {{currency}}</td></tr><tr><td>Shipping</td><td align=\"right\">{{shipping}} {{currency}}</td></tr><tr><td><b>Total</b></td><td align=\"right\"><b>{{total}} {{currency}}</b></td></tr></table><p>Shipping to: {{address}}</p><p><a href=\"{{link}}\">See your order</a></p><p>We will let you know when it ships.</p>",
};

pub const ORDER_SHIPPED: Template = Template {
    subject: "Order {{order}} has shipped",
    text: "Hello {{name}},\n\nYour order {{order}} is on its way to {{address}}.\nCarrier: {{carrier}}\nTracking number: {{tracking}}\n{{tracking_url}}\n\nYour order: {{link}}\n",
    html: "<p>Hello {{name}},</p><p>Your order <b>{{order}}</b> is on its way to {{address}}.</p><p>Carrier: {{carrier}}<br>Tracking number: {{tracking}}<br>{{tracking_url}}</p><p><a href=\"{{link}}\">See your order</a></p>",
};

pub const ORDER_DELIVERED: Template = Template {
    subject: "Order {{order}} was delivered",
    text: "Hello {{name}},\n\nYour order {{order}} was delivered. Enjoy! Returns are accepted for 30 days.\n",
    html: "<p>Hello {{name}},</p><p>Your order <b>{{order}}</b> was delivered. Enjoy! Returns are accepted for 30 days.</p>",
};

pub const ORDER_CANCELLED: Template = Template {
    subject: "Order {{order}} was cancelled",
    text: "Hello {{name}},\n\nYour order {{order}} was cancelled. Any payment made for it is refunded.\n",
    html: "<p>Hello {{name}},</p><p>Your order <b>{{order}}</b> was cancelled. Any payment made for it is refunded.</p>",
};

pub const ABANDONED_CART: Template = Template {
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
