"""A local Telegram Bot API sandbox: a real HTTP server PTB can poll, plus participants.

async with Sandbox() as sandbox, SandboxClient(sandbox.url) as client:
    ...
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
