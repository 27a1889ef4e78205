"""CustomerLabels moves from segmentation to customers: state only, the table keeps its name.

A fan's labels row is written with the fan (registration, the opinion-leader mark), so it lives
in the lowest app; segmentation's relabel job still computes it.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0003_customer_updated_index'),
        ('segmentation', '0006_sparse_nightly_writes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CustomerLabels',
                    fields=[
                        ('customer', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='labels', serialize=False, to='customers.customer')),
                        ('frequency', models.IntegerField(default=0)),
                        ('monetary', models.DecimalField(decimal_places=2, default=0, max_digits=14)),
                        ('lifetime_sales', models.IntegerField(default=0)),
                        ('first_sale', models.DateField(null=True)),
                        ('last_sale', models.DateField(null=True)),
                        ('apple', models.CharField(choices=[('blossom', 'apple blossom'), ('green', 'green apple'), ('yellow', 'yellow apple'), ('red', 'red apple'), ('golden', 'golden apple')], default='blossom', max_length=8, verbose_name='apple')),
                        ('rfm_segment', models.CharField(blank=True, choices=[('important_value', 'important value'), ('important_development', 'important development'), ('important_retain', 'important retain'), ('important_winback', 'important win-back'), ('general_value', 'general value'), ('general_development', 'general development'), ('general_retain', 'general retain'), ('general_winback', 'general win-back')], max_length=24, verbose_name='RFM segment')),
                        ('r_stage', models.CharField(blank=True, choices=[('active', 'active'), ('sleeping', 'sleeping'), ('pre_churn', 'pre-churn'), ('churned', 'churned')], max_length=10, verbose_name='R stage')),
                        ('membership', models.CharField(blank=True, choices=[('supreme_vip', 'supreme VIP'), ('vip', 'VIP'), ('senior', 'senior member'), ('regular', 'regular member')], max_length=12, verbose_name='membership')),
                        ('rhythm', models.CharField(blank=True, choices=[('monthly', 'monthly'), ('quarterly', 'quarterly'), ('half_yearly', 'half-yearly'), ('yearly', 'yearly'), ('single', 'single purchase')], max_length=12, verbose_name='rhythm')),
                        ('remark_store_account', models.CharField(blank=True, max_length=64)),
                        ('remark_personal_account', models.CharField(blank=True, max_length=64)),
                        ('remark_key', models.BigIntegerField(blank=True, editable=False, null=True)),
                        ('labels_key', models.BigIntegerField(blank=True, editable=False, null=True)),
                    ],
                    options={
                        'verbose_name': 'computed labels',
                        'verbose_name_plural': 'computed labels',
                        'db_table': 'segmentation_customerlabels',
                        'indexes': [models.Index(fields=['apple', 'customer'], name='labels_apple_idx'), models.Index(fields=['rfm_segment', 'customer'], name='labels_segment_idx'), models.Index(fields=['r_stage', 'customer'], name='labels_stage_idx'), models.Index(fields=['membership'], name='labels_membership_idx')],
                    },
                ),
            
            ],
        ),
    ]
