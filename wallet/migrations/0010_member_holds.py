"""Members on hold for review (issue 13): `Account.frozen`, checked under each debit's row lock,
and the append-only history of holds and clearances (UPDATE and DELETE refused on PostgreSQL,
like transfers and entries)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


APPEND_ONLY = """
CREATE TRIGGER wallet_memberhold_append_only BEFORE UPDATE OR DELETE ON wallet_memberhold
    FOR EACH ROW EXECUTE FUNCTION wallet_forbid_change();
"""


def forward(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute(APPEND_ONLY)  # type: ignore[attr-defined]


def backward(apps: object, schema_editor: object) -> None:
    if schema_editor.connection.vendor == "postgresql":  # type: ignore[attr-defined]
        schema_editor.execute("DROP TRIGGER IF EXISTS wallet_memberhold_append_only ON wallet_memberhold")  # type: ignore[attr-defined]


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0009_verbose_names_translated'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='account',
            name='frozen',
            field=models.BooleanField(default=False, verbose_name='on hold'),
        ),
        migrations.CreateModel(
            name='MemberHold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('action', models.CharField(choices=[('hold', 'Put on hold'), ('clear', 'Cleared')], max_length=8, verbose_name='action')),
                ('reason', models.TextField(verbose_name='reason')),
                ('signal', models.CharField(blank=True, max_length=200, verbose_name='signal')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='decided at')),
                ('created_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='decided by')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='member')),
            ],
            options={
                'verbose_name': 'member hold',
                'verbose_name_plural': 'member holds',
                'permissions': [('review_fraud', 'Can review fraud signals and hold or clear members')],
                'indexes': [models.Index(fields=['user', '-id'], name='wallet_memberhold_user_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('reason', ''), _negated=True), name='wallet_memberhold_reason_required')],
            },
        ),
        migrations.RunPython(forward, backward),
    ]
