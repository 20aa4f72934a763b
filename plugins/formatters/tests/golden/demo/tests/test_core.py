from pkg import Greeter


def test_greet():
    assert Greeter().greet("a") == "HI A"
