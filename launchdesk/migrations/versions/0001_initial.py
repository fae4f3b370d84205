"""The first workspace schema: plan, accounts, comms, connections, snapshots, journal.

Revision ID: 0001_initial
Revises: 
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('name_folded', sa.String(length=500), nullable=False),
    sa.Column('stickiness_id', sa.String(length=200), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('account_key', name=op.f('uq_account_account_key'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_name_folded'), ['name_folded'], unique=False)

    op.create_table('connection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('project', sa.String(length=200), nullable=False),
    sa.Column('environment', sa.String(length=200), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connection')),
    sa.UniqueConstraint('name', name=op.f('uq_connection_name'))
    )
    op.create_table('setting',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_setting'))
    )
    op.create_table('sync_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_run'))
    )
    op.create_table('team_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_member')),
    sa.UniqueConstraint('name', name=op.f('uq_team_member_name'))
    )
    op.create_table('contact',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('first_name', sa.String(length=200), nullable=False),
    sa.Column('last_name', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_contact_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contact_email'), ['email'], unique=False)

    op.create_table('flag_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('sync_run_id', sa.Integer(), nullable=True),
    sa.Column('flag_key', sa.String(length=200), nullable=False),
    sa.Column('environment', sa.String(length=200), nullable=False),
    sa.Column('fetched_at', sa.DateTime(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('definition', sa.JSON(), nullable=False),
    sa.Column('rollout_percentage', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['connection.id'], name=op.f('fk_flag_snapshot_connection_id_connection'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sync_run_id'], ['sync_run.id'], name=op.f('fk_flag_snapshot_sync_run_id_sync_run'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flag_snapshot'))
    )
    with op.batch_alter_table('flag_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_flag_snapshot_connection_id_flag_key_environment_fetched_at'), ['connection_id', 'flag_key', 'environment', 'fetched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_flag_snapshot_sync_run_id'), ['sync_run_id'], unique=False)

    op.create_table('rollout',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('feature_name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('template_name', sa.String(length=200), nullable=True),
    sa.Column('flag_connection_id', sa.Integer(), nullable=True),
    sa.Column('flag_key', sa.String(length=200), nullable=True),
    sa.Column('flag_environment', sa.String(length=100), nullable=True),
    sa.Column('readiness_can_flag', sa.Text(), nullable=False),
    sa.Column('readiness_blast_radius', sa.Text(), nullable=False),
    sa.Column('readiness_monitoring', sa.Text(), nullable=False),
    sa.Column('readiness_rollback_plan', sa.Text(), nullable=False),
    sa.Column('kill_switch_tested_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['flag_connection_id'], ['connection.id'], name=op.f('fk_rollout_flag_connection_id_connection'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rollout')),
    sa.UniqueConstraint('name', name=op.f('uq_rollout_name'))
    )
    op.create_table('cohort',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('rule', sa.JSON(), nullable=False),
    sa.Column('target_percentage', sa.Double(), nullable=False),
    sa.Column('comms_style', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], name=op.f('fk_cohort_rollout_id_rollout'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cohort')),
    sa.UniqueConstraint('rollout_id', 'name', name=op.f('uq_cohort_rollout_id_name'))
    )
    with op.batch_alter_table('cohort', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cohort_rollout_id'), ['rollout_id'], unique=False)

    op.create_table('gate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('metric', sa.String(length=50), nullable=False),
    sa.Column('source_connection_id', sa.Integer(), nullable=True),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('comparison', sa.String(length=2), nullable=False),
    sa.Column('threshold', sa.Double(), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('baseline_kind', sa.String(length=10), nullable=False),
    sa.Column('baseline_value', sa.Double(), nullable=True),
    sa.Column('baseline_offset_s', sa.Integer(), nullable=True),
    sa.Column('window_s', sa.Integer(), nullable=False),
    sa.Column('min_samples', sa.Integer(), nullable=False),
    sa.Column('failure_limit', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], name=op.f('fk_gate_rollout_id_rollout'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_connection_id'], ['connection.id'], name=op.f('fk_gate_source_connection_id_connection'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gate'))
    )
    with op.batch_alter_table('gate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gate_rollout_id'), ['rollout_id'], unique=False)

    op.create_table('journal_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], name=op.f('fk_journal_entry_rollout_id_rollout'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_entry'))
    )
    with op.batch_alter_table('journal_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_journal_entry_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_journal_entry_rollout_id_at'), ['rollout_id', 'at'], unique=False)

    op.create_table('metric_sample',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gate_id', sa.Integer(), nullable=False),
    sa.Column('sync_run_id', sa.Integer(), nullable=True),
    sa.Column('sampled_at', sa.DateTime(), nullable=False),
    sa.Column('value', sa.Double(), nullable=True),
    sa.Column('baseline', sa.Double(), nullable=True),
    sa.Column('sample_count', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('entered_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['gate_id'], ['gate.id'], name=op.f('fk_metric_sample_gate_id_gate'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sync_run_id'], ['sync_run.id'], name=op.f('fk_metric_sample_sync_run_id_sync_run'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_metric_sample'))
    )
    with op.batch_alter_table('metric_sample', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metric_sample_gate_id_sampled_at'), ['gate_id', 'sampled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_metric_sample_sync_run_id'), ['sync_run_id'], unique=False)

    op.create_table('phase',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rollout_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=True),
    sa.Column('target_percentage', sa.Double(), nullable=True),
    sa.Column('planned_start', sa.DateTime(), nullable=False),
    sa.Column('planned_end', sa.DateTime(), nullable=False),
    sa.Column('actual_start', sa.DateTime(), nullable=True),
    sa.Column('actual_end', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_phase_cohort_id_cohort'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['rollout_id'], ['rollout.id'], name=op.f('fk_phase_rollout_id_rollout'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phase'))
    )
    with op.batch_alter_table('phase', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_phase_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_phase_rollout_id_position'), ['rollout_id', 'position'], unique=False)

    op.create_table('checklist_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('offset_minutes', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('done_by', sa.String(length=200), nullable=True),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['phase_id'], ['phase.id'], name=op.f('fk_checklist_item_phase_id_phase'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_item'))
    )
    with op.batch_alter_table('checklist_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checklist_item_phase_id_role'), ['phase_id', 'role'], unique=False)

    op.create_table('decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('gate_snapshot', sa.JSON(), nullable=False),
    sa.Column('overridden', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['phase_id'], ['phase.id'], name=op.f('fk_decision_phase_id_phase'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decision'))
    )
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decision_phase_id_decided_at'), ['phase_id', 'decided_at'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('phase_id', sa.Integer(), nullable=False),
    sa.Column('cohort_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('audience', sa.String(length=20), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('send_offset_minutes', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', sa.DateTime(), nullable=True),
    sa.Column('sender_connection_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cohort_id'], ['cohort.id'], name=op.f('fk_message_cohort_id_cohort'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['phase_id'], ['phase.id'], name=op.f('fk_message_phase_id_phase'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_connection_id'], ['connection.id'], name=op.f('fk_message_sender_connection_id_connection'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_cohort_id'), ['cohort_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_phase_id'), ['phase_id'], unique=False)

    op.create_table('delivery',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('provider_message_id', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_delivery_account_id_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_delivery_message_id_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery')),
    sa.UniqueConstraint('message_id', 'recipient', name=op.f('uq_delivery_message_id_recipient'))
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_message_id_state'), ['message_id', 'state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_message_id_state'))
        batch_op.drop_index(batch_op.f('ix_delivery_account_id'))

    op.drop_table('delivery')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_phase_id'))
        batch_op.drop_index(batch_op.f('ix_message_cohort_id'))

    op.drop_table('message')
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decision_phase_id_decided_at'))

    op.drop_table('decision')
    with op.batch_alter_table('checklist_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checklist_item_phase_id_role'))

    op.drop_table('checklist_item')
    with op.batch_alter_table('phase', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phase_rollout_id_position'))
        batch_op.drop_index(batch_op.f('ix_phase_cohort_id'))

    op.drop_table('phase')
    with op.batch_alter_table('metric_sample', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metric_sample_sync_run_id'))
        batch_op.drop_index(batch_op.f('ix_metric_sample_gate_id_sampled_at'))

    op.drop_table('metric_sample')
    with op.batch_alter_table('journal_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_journal_entry_rollout_id_at'))
        batch_op.drop_index(batch_op.f('ix_journal_entry_at'))

    op.drop_table('journal_entry')
    with op.batch_alter_table('gate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gate_rollout_id'))

    op.drop_table('gate')
    with op.batch_alter_table('cohort', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cohort_rollout_id'))

    op.drop_table('cohort')
    op.drop_table('rollout')
    with op.batch_alter_table('flag_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_flag_snapshot_sync_run_id'))
        batch_op.drop_index(batch_op.f('ix_flag_snapshot_connection_id_flag_key_environment_fetched_at'))

    op.drop_table('flag_snapshot')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_email'))
        batch_op.drop_index(batch_op.f('ix_contact_account_id'))

    op.drop_table('contact')
    op.drop_table('team_member')
    op.drop_table('sync_run')
    op.drop_table('setting')
    op.drop_table('connection')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_name_folded'))

    op.drop_table('account')
