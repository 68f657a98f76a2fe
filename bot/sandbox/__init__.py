"""A local Telegram Bot API sandbox: a real HTTP server PTB can poll, plus participants.

async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
    ...

It also serves webhooks as Telegram does (setWebhook, POST delivery with the secret header,
retries, 409 on getUpdates meanwhile), and stands in for a load balancer in front of several
``everystage run --webhook`` processes: ``client.webhook_targets([url, ...])``. See webhook.py.
"""

from .client import Button, Message, SandboxClient, SandboxError, SandboxGroup, SandboxUser
from .errors import ApiError
from .faults import Faults
from .limits import RateLimits
from .server import Sandbox
from .spec import default_spec_path, spec_available

__all__ = [
    "ApiError",
    "Button",
    "Faults",
    "Message",
    "RateLimits",
    "Sandbox",
    "SandboxClient",
    "SandboxError",
    "SandboxGroup",
    "SandboxUser",
    "default_spec_path",
    "spec_available",
]
