from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('yamlgraph_django', '0009_store_crons'),
    ]

    operations = [
        migrations.CreateModel(
            name='WorkerHeartbeat',
            fields=[
                ('worker_id', models.CharField(max_length=64, primary_key=True, serialize=False)),
                ('hostname', models.CharField(blank=True, max_length=255)),
                ('pid', models.PositiveIntegerField(blank=True, null=True)),
                ('backend', models.CharField(blank=True, help_text='Task worker command', max_length=100)),
                ('started_at', models.DateTimeField()),
                ('seen_at', models.DateTimeField(db_index=True)),
            ],
            options={
                'verbose_name': 'worker heartbeat',
                'ordering': ['-seen_at'],
            },
        ),
    ]
