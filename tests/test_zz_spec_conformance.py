"""Runs last (file order): every Bot API request the bot made in this suite met the spec."""

from __future__ import annotations

from tests.conftest import LEDGER, requires_spec

# Methods the journey must have exercised for this check to mean something.
EXPECTED = {
    "getMe",
    "getUpdates",
    "deleteWebhook",
    "setMyCommands",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "sendDocument",
    "getFile",
}


@requires_spec
def test_every_request_the_bot_made_conformed_to_the_bot_api_spec() -> None:
    if not LEDGER.requests:
        import pytest

        pytest.skip("run with the end-to-end tests: no Bot API requests were recorded")
    assert LEDGER.violations == []
    missing = EXPECTED - LEDGER.methods
    assert not missing, f"the suite never exercised {sorted(missing)}"
