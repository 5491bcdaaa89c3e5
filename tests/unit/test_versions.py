import pytest

from api.errors import NotAcceptable
from api.versions import MAX_VERSION, MIN_VERSION, Version, negotiate


@pytest.mark.parametrize("header,expected", [
    (None, MIN_VERSION), ("", MIN_VERSION), ("container 1.22", Version(1, 22)),
    ("container latest", MAX_VERSION), ("zun latest", MAX_VERSION),
    ("Container 1.40", Version(1, 40))])
def test_negotiated(header, expected):
    assert negotiate(header) == expected


@pytest.mark.parametrize("header,message", [
    ("container", "Invalid service type for OpenStack-API-Version header"),
    ("compute 1.2", "Invalid service type for OpenStack-API-Version header"),
    ("container 1", "Invalid value for OpenStack-API-Version header"),
    ("container 1.2.3", "Invalid value for OpenStack-API-Version header"),
    ("container 2.1", "Mutually exclusive versions requested. Version 2.1 requested but not "
                      "supported by this service. The supported version range is: "
                      "[container 1.1, container 1.40]."),
    ("container 1.41", "Version 1.41 was requested but the minor version is not supported by "
                       "this service. The supported version range is: "
                       "[container 1.1, container 1.40].")])
def test_refused(header, message):
    with pytest.raises(NotAcceptable) as e:
        negotiate(header)
    assert e.value.message == message
    assert e.value.status == 406
