"""The AsyncAPI document's NATS channels are the subjects the code builds, in the streams set-up
makes, published by the roles infra/natsaccess.py lets publish there."""

from __future__ import annotations

import uuid

from infra.eventstore.stream import stream_config
from infra.eventstore.subjects import SubjectLayout
from infra.feeds.payloads import PayloadStore
from infra.feeds.quarantine import Quarantine
from infra.nats_setup import all_streams, event_streams, stream_names
from infra.natsaccess import SERVICE_ROLES, writes
from infra.settings import Settings
from tests import asyncapi_doc
from tests.asyncapi_doc import channels_of, matches


def document() -> dict[str, object]:
    from gateway.streams.asyncapi import document

    return asyncapi_doc.load(document())


def stream_subjects(settings: Settings) -> dict[str, list[str]]:
    """What each stream of ``all_streams`` holds, from the code that configures it."""
    subjects = {
        name: stream_config(SubjectLayout(name), replicas=1, duplicate_window=1.0)["subjects"]
        for name in event_streams(settings)
    }
    for store in (PayloadStore, Quarantine):
        subjects[store.default_stream] = [f"{store.default_prefix}.>"]
    bucket = settings.model_bucket
    subjects[f"OBJ_{bucket}"] = [f"$O.{bucket}.C.>", f"$O.{bucket}.M.>"]  # nats-py's layout
    assert set(subjects) == set(all_streams(settings))
    return subjects


def test_every_nats_channel_lies_in_the_stream_it_names() -> None:
    settings = Settings()
    streams = stream_subjects(settings)
    notify = [SubjectLayout(name).notify for name in event_streams(settings)]
    samples = asyncapi_doc.samples(document())
    assert samples
    for sample in samples:
        if sample.stream in streams:
            assert any(matches(sample.subject, f) for f in streams[sample.stream]), sample
        else:  # republished by the server, stored nowhere
            assert any(matches(sample.subject, f) for f in notify), sample
            assert not any(matches(sample.subject, f) for fs in streams.values() for f in fs)
    # and every subject filter of every stream set-up makes has its channels
    for stream, filters in streams.items():
        for f in filters:
            assert any(s.stream == stream and matches(s.subject, f) for s in samples), f


def test_every_subject_the_event_store_builds_has_exactly_one_channel() -> None:
    doc = document()
    settings = Settings()
    built: list[str] = []
    for name in event_streams(settings):
        layout = SubjectLayout(name)
        built += [
            layout.aggregate(uuid.uuid4()),
            layout.aggregate("a non-uuid id"),
            layout.tracking("forecaster"),
            layout.tracking("FeedHealth"),
            layout.checkpoints,
            layout.notify.replace(">", layout.aggregate(uuid.uuid4()).rsplit(".", 1)[1]),
        ]
    # the only application that takes snapshots (commands/feed_health.py)
    built.append(SubjectLayout(settings.feed_health_stream, "snapshots").aggregate(uuid.uuid4()))
    for subject in built:
        assert len(channels_of(doc, subject)) == 1, (subject, channels_of(doc, subject))


def test_publishers_are_the_roles_allowed_to_publish() -> None:
    """x-publishers lists exactly the service roles whose NATS grant covers some subject of the
    channel; a channel nobody may publish on (the server's republish) lists none."""
    names = stream_names(Settings())
    grants = {role.value: writes(role, names) for role in SERVICE_ROLES}
    by_channel: dict[str, set[str]] = {}
    for sample in asyncapi_doc.samples(document()):
        allowed = {
            r for r, grant in grants.items() if any(matches(sample.subject, g) for g in grant)
        }
        by_channel.setdefault(sample.channel, set()).update(allowed)
    declared = {
        name: set(channel["x-publishers"])
        for name, channel in asyncapi_doc.nats_channels(document()).items()
    }
    assert by_channel == declared


def test_stream_parameters_list_exactly_the_event_streams() -> None:
    settings = Settings()
    history = {settings.demo_history_stream, settings.replay_history_stream}
    for name, channel in asyncapi_doc.nats_channels(document()).items():
        for param, spec in channel.get("parameters", {}).items():
            if param == "stream":
                assert spec["enum"] == event_streams(settings), name
            if param == "historyStream":
                assert set(spec["enum"]) == history, name
