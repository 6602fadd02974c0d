"""The unmanaged Cache model: no table is created, only its content type and permissions."""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    operations = [
        migrations.CreateModel(
            name="Cache",
            fields=[("key", models.TextField(primary_key=True, serialize=False))],
            options={
                "verbose_name": "cache",
                "verbose_name_plural": "caches",
                "managed": False,
                "default_permissions": ("view", "change", "delete"),
            },
        ),
    ]
