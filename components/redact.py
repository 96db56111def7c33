"""Token-like strings out of anything the platform publishes: error messages, render files,
caches and the pull-request comment.

Pure Python (standard library only: the policy pack and the tools import it). A secret
belongs in secret config (`pulumi config set --secret`), where the program reads it as a
Pulumi secret and the render shows `[secret]`; this is the second line, for a secret pasted
where it does not belong (a config field, an `extraArgs` value, an annotation) or echoed by
a tool. It matches by shape, so it also catches strings that only look like secrets; it
leaves alone the long strings the platform itself writes: 40-hex commits, `sha256:` digests,
Kubernetes names (lower case) and the placeholders of an offline render.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"

# Shapes of credentials with a known prefix (hub, OpenAI-style, GitHub, GitLab, Slack, AWS
# access keys, JWTs, PEM private keys), a Bearer header value, and a URL's user:password@.
_KNOWN = [
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
    r"\bhf_[A-Za-z0-9]{20,}",
    r"\bsk-[A-Za-z0-9_-]{16,}",
    r"\bgh[pousr]_[A-Za-z0-9]{20,}",
    r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    r"\bglpat-[A-Za-z0-9_-]{16,}",
    r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    r"(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{8,}",
    r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)",
    # AWS secret access keys: 40 base64 characters, `/` and `+` included.
    r"(?<![A-Za-z0-9+=])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[/+0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
]
_KNOWN_PATTERN = re.compile("|".join(f"(?:{p})" for p in _KNOWN))
# Anything else of 20 or more key characters that mixes upper case, lower case and digits
# in one stretch of 16 or more between separators: API keys, passwords, AWS secret keys,
# base64 of random bytes. Names (`Llama-3.3-70B-Instruct-FP8-dynamic`), paths and 40-hex
# commits are not such a stretch.
_GENERIC = re.compile(r"(?<![A-Za-z0-9+=_-])[A-Za-z0-9+=_-]{20,}(?![A-Za-z0-9+=_-])")


def _looks_random(word: str) -> bool:
    stretch = max(re.split(r"[-_]", word), key=len)
    return (
        len(stretch) >= 16
        and sum(c.isupper() for c in stretch) >= 2
        and sum(c.islower() for c in stretch) >= 2
        and sum(c.isdigit() for c in stretch) >= 2
        and not re.fullmatch(r"[0-9a-fA-F]+", stretch)
    )


def redact(text: str) -> tuple[str, int]:
    """`text` with every token-like string replaced by REDACTED, and how many were."""
    count = 0

    def known(match: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return REDACTED

    def generic(match: re.Match[str]) -> str:
        nonlocal count
        if not _looks_random(match.group(0)):
            return match.group(0)
        count += 1
        return REDACTED

    text = _KNOWN_PATTERN.sub(known, text)
    return _GENERIC.sub(generic, text), count


def redacted(text: str) -> str:
    """`text` with every token-like string replaced by REDACTED."""
    return redact(text)[0]


def looks_like_secret(text: str) -> bool:
    return redact(text)[1] > 0
