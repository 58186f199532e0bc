//! E047: the shapes of the site properties a cloud needs, checked before a
//! back end copies them into Terraform or CloudFormation (which would accept
//! `vpc "vpc-1234"` and fail, or lint, only at deploy time).

use crate::diag::Diagnostic;
use crate::ir::SiteKind;
use crate::span::Spanned;

/// Checks the properties of one site of `kind`, each at its value.
pub fn check(kind: SiteKind, props: &[(Spanned<String>, Spanned<String>)], diags: &mut Vec<Diagnostic>) {
    for (key, value) in props {
        let (what, rule) = match (kind, key.node.as_str()) {
            (SiteKind::Aws, "vpc") => ("an AWS VPC id", aws_vpc(&value.node)),
            (SiteKind::Gcp, "project") => ("a GCP project id", gcp_project(&value.node)),
            (SiteKind::Azure, "resource_group") => {
                ("an Azure resource group name", azure_resource_group(&value.node))
            }
            _ => continue,
        };
        if let Err(rule) = rule {
            diags.push(
                Diagnostic::error(
                    "E047",
                    value.span,
                    format!(
                        "site property `{}`: `{}` is not {what}",
                        key.node,
                        crate::syntax::text::visible(&value.node)
                    ),
                )
                .with_help(rule),
            );
        }
    }
}

/// `vpc-` and 8 or 17 lowercase hex digits.
fn aws_vpc(v: &str) -> Result<(), String> {
    let hex = v.strip_prefix("vpc-").unwrap_or("");
    let ok = matches!(hex.len(), 8 | 17)
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    ok.then_some(()).ok_or_else(|| {
        "an AWS VPC id is `vpc-` and 8 or 17 lowercase hexadecimal digits, e.g. `vpc-0a1b2c3d` or `vpc-0a1b2c3d4e5f60789`"
            .to_string()
    })
}

/// 6 to 30 lowercase letters, digits and hyphens; a letter first, no hyphen last.
fn gcp_project(v: &str) -> Result<(), String> {
    let ok = (6..=30).contains(&v.len())
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && !v.ends_with('-')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok.then_some(()).ok_or_else(|| {
        "a GCP project id is 6 to 30 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, e.g. `shop-prod`"
            .to_string()
    })
}

/// 1 to 90 letters, digits, `_`, `-`, `.`, `(`, `)`; not ending with `.`.
fn azure_resource_group(v: &str) -> Result<(), String> {
    let ok = (1..=90).contains(&v.chars().count())
        && !v.ends_with('.')
        && v.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'));
    ok.then_some(()).ok_or_else(|| {
        "an Azure resource group name is 1 to 90 letters, digits, `_`, `-`, `.`, `(` and `)`, not ending with `.`, e.g. `shop-rg`"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(aws_vpc("vpc-0a1b2c3d").is_ok() && aws_vpc("vpc-0a1b2c3d4e5f60789").is_ok());
        assert!(
            aws_vpc("vpc-1234").is_err() && aws_vpc("vpc-0A1B2C3D").is_err() && aws_vpc("0a1b2c3d").is_err()
        );
        assert!(gcp_project("shop-prod").is_ok() && gcp_project("p").is_err());
        assert!(
            gcp_project("Shop-prod").is_err()
                && gcp_project("shop-prod-").is_err()
                && gcp_project("1shop-prod").is_err()
        );
        assert!(azure_resource_group("shop-rg").is_ok() && azure_resource_group("rg(1).x").is_ok());
        assert!(
            azure_resource_group("rg.").is_err()
                && azure_resource_group("").is_err()
                && azure_resource_group("a b").is_err()
        );
    }
}
