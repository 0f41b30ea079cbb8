"""eventsourcing's own recorder and application test cases, run on the JetStream module."""

from __future__ import annotations

import os

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)

# Imported as modules: a TestCase class imported by name would be collected and run as is.
from eventsourcing.tests import application as app_cases
from eventsourcing.tests import persistence as cases
from eventsourcing.utils import Environment

from infra.eventstore import (
    JetStreamAggregateRecorder,
    JetStreamApplicationRecorder,
    JetStreamFactory,
    JetStreamProcessRecorder,
    JetStreamTrackingRecorder,
)
from tests.conftest import STORE_PROFILES


class _FactoryPerTest:
    """Each test builds its recorder from the environment (a fresh stream) and closes it."""

    _factories: list[JetStreamFactory]

    def new_factory(self) -> JetStreamFactory:
        factory = InfrastructureFactory.construct(Environment(env=dict(os.environ)))
        assert isinstance(factory, JetStreamFactory)
        self.__dict__.setdefault("_factories", []).append(factory)
        return factory

    def tearDown(self) -> None:
        for factory in self.__dict__.get("_factories", []):
            factory.close()
        super().tearDown()  # type: ignore[misc]


class TestAggregateRecorder(_FactoryPerTest, cases.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.new_factory().aggregate_recorder()


class TestSnapshotRecorder(_FactoryPerTest, cases.AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return self.new_factory().aggregate_recorder("snapshots")


class TestApplicationRecorder(_FactoryPerTest, cases.ApplicationRecorderTestCase):
    def create_recorder(self) -> ApplicationRecorder:
        return self.new_factory().application_recorder()

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestNonInterleavingNotificationIDs(
    _FactoryPerTest, cases.NonInterleavingNotificationIDsBaseCase
):
    def create_recorder(self) -> ApplicationRecorder:
        return self.new_factory().application_recorder()


class TestTrackingRecorder(_FactoryPerTest, cases.TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return self.new_factory().tracking_recorder()


class TestProcessRecorder(_FactoryPerTest, cases.ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return self.new_factory().process_recorder()


class _CustomTrackingRecorder(JetStreamTrackingRecorder):
    pass


class TestInfrastructureFactory(cases.InfrastructureFactoryTestCase[JetStreamFactory]):
    def setUp(self) -> None:
        self.env = Environment("TestCase", dict(os.environ))
        super().setUp()

    def expected_factory_class(self) -> type[JetStreamFactory]:
        return JetStreamFactory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return JetStreamAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return JetStreamApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return JetStreamTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return _CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return JetStreamProcessRecorder


class TestExampleApplication(app_cases.ExampleApplicationTestCase):
    expected_factory_topic = "infra.eventstore.factory:JetStreamFactory"


class TestApplication(app_cases.ApplicationTestCase):
    pass


# Every case above once more per secured profile: TLS with client certificates and NKey auth on
# our own protocol paths, and the same with those paths switched off (nats-py serves alone).
_CASES = [
    TestAggregateRecorder,
    TestSnapshotRecorder,
    TestApplicationRecorder,
    TestNonInterleavingNotificationIDs,
    TestTrackingRecorder,
    TestProcessRecorder,
    TestInfrastructureFactory,
    TestExampleApplication,
    TestApplication,
]
for _profile in STORE_PROFILES[1:]:
    for _case in _CASES:
        _name = f"{_case.__name__}_{_profile.replace('-', '_')}"
        globals()[_name] = type(_name, (_case,), {"store_profile": _profile})
