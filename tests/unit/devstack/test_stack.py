from services.devstack.receivers import ReceivedRequest
from services.devstack.stack import webhook_record


def test_a_webhook_is_saved_with_its_json_body() -> None:
    request = ReceivedRequest(
        "/hook", {"X-Raqib-Signature": "sha256=ab"}, b'{"rule": "\\u0627"}', 200
    )
    assert webhook_record(request) == {
        "headers": {"X-Raqib-Signature": "sha256=ab"},
        "body": {"rule": "ا"},
    }


def test_a_body_that_is_not_json_is_kept_as_text() -> None:
    request = ReceivedRequest("/hook", {}, b"not json \xff", 200)
    assert webhook_record(request)["body"] == "not json \ufffd"
