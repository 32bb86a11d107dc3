from conftest import versions, tables


def test_up_status_rollback_on_shipped(shipped):
    r = shipped.run("up")
    assert r.code == 0, r.text
    assert versions(shipped.url) == ["0001", "0002", "0003"]
    r = shipped.run("status")
    assert "[X] 0003_add_customer_tags.sql" in r.out
    r = shipped.run("rollback")
    assert r.code == 0, r.text
    assert versions(shipped.url) == ["0001", "0002"]
    assert "customer_tags" not in tables(shipped.url)
