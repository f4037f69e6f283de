"""Chat tables on SQLite and Postgres: a turn's message finished by the run's projection,
conversation variables carried, cursors, soft delete, feedback."""

from __future__ import annotations

from sqlmodel import Session

from tideflow.platform.db.crud import accounts, apps, feedback
from tideflow.platform.db.crud import conversations as conv_crud
from tideflow.platform.db.crud import runs as run_crud
from tideflow.platform.db.migrate import upgrade_database
from tideflow.platform.db.models import Message, WorkflowRun
from tideflow.platform.db.session import get_engine
from tideflow.workflows.engine.models import GraphRunResult


def test_turns_conversations_and_feedback(db_url: str) -> None:
    upgrade_database(db_url)
    with Session(get_engine(db_url)) as session:
        tenant, _ = accounts.create_tenant_with_owner(
            session, tenant_name="t", email="c@example.com", password="pw"
        )
        app = apps.create_app(
            session, tenant.id, name="c", mode="advanced-chat", description="", draft_dsl=""
        )
        user = run_crud.end_user(session, app, "alice")
        conversation = None
        for turn in (1, 2):
            conversation = conv_crud.open_turn(session, app, user, conversation, {"a": 1}, "hi")
            assert conversation.dialogue_count == turn
            run = WorkflowRun(tenant_id=tenant.id, app_id=app.id, temporal_workflow_id=f"wf-{turn}")
            message = Message(
                tenant_id=tenant.id,
                app_id=app.id,
                conversation_id=conversation.id,
                workflow_run_id=run.id,
                end_user_id=user.id,
                query=f"q{turn}",
            )
            claimed, created = run_crud.claim_run(session, run, [message])
            assert created
            result = GraphRunResult(
                status="succeeded", answer=f"a{turn}", conversation_variables={"n": turn}
            )
            run_crud.project_result(session, claimed.id, result)
        assert conversation is not None
        session.refresh(conversation)
        assert conversation.variables == {"n": 2}
        messages, more = conv_crud.list_messages(session, conversation, None, 1)
        assert [m.answer for m in messages] == ["a2"] and more and messages[0].status == "normal"
        older, more = conv_crud.list_messages(session, conversation, messages[0].id, 5)
        assert [m.query for m in older] == ["q1"] and not more
        feedback.rate_message(session, older[0], user, "like", None)
        assert [f.rating for f in feedback.list_feedbacks(session, app, 1, 10)[0]] == ["like"]
        listed, _ = conv_crud.list_conversations(session, app, user, None, 10, "-updated_at")
        assert [c.id for c in listed] == [conversation.id]
        conv_crud.soft_delete(session, conversation)
        assert conv_crud.get_conversation(session, app, user, conversation.id) is None
        bob = run_crud.end_user(session, app, "bob")
        assert conv_crud.list_conversations(session, app, bob, None, 10, "created_at")[0] == []
