// Exhibit on Azure: one deployment per environment, into one resource group.
//
// Creates: a user-assigned managed identity (the only identity the apps use), one storage
// account per evidence region (no shared keys, no public blob access, TLS 1.2, version-level
// immutability, soft delete), the intake queue, PostgreSQL flexible server with Entra
// authentication only, Key Vault (RBAC, purge protection) holding the checkpoint signing key,
// Log Analytics and Application Insights, a Container Apps environment running the service
// (ingress, at least two replicas) and the ingest worker (scaled by KEDA on the intake queue,
// authenticated with the managed identity), the Azure Bot resource with the Teams channel
// (single tenant), a job that runs database migrations, and an Azure Policy assignment that keeps every resource in the UK regions.
//
// Every role assignment carries a description saying why the identity needs it; the tests
// (tests/test_infra.py) refuse an assignment without one, and the admin guide repeats them.

targetScope = 'resourceGroup'

@description('Environment name, used in resource names: dev, test or prod.')
@allowed([
  'dev'
  'test'
  'prod'
])
param environmentName string

@description('Where the shared resources (apps, database, vault, monitoring) live. UK only.')
@allowed([
  'uksouth'
  'ukwest'
])
param location string = 'uksouth'

@description('Evidence regions: one storage account each. A case is pinned to one of them.')
param evidenceRegions array = [
  'uksouth'
  'ukwest'
]

@description('Locations the policy assignment allows for every resource in the resource group.')
param allowedLocations array = [
  'uksouth'
  'ukwest'
  'global'
]

@description('Container image of Exhibit (service and worker run the same image).')
param image string

@description('Login server of the registry the image is pulled from (pulled with the identity).')
param registryServer string

@description('Application (client) id of the single-tenant Entra app registration of the bot.')
param botAppId string

@description('Entra tenant of the force.')
param tenantId string = tenant().tenantId

@description('Object id of the Entra group that administers the database (people, not the apps).')
param databaseAdminGroupObjectId string

@description('Display name of that Entra group.')
param databaseAdminGroupName string

@description('Public host name the service is reached at (Teams messaging endpoint, link site).')
param publicHostName string

@description('Minimum replicas of the service: two, so that an update or a crash never stops it.')
@minValue(2)
param serviceMinReplicas int = 2

@description('Most worker replicas KEDA may start.')
@minValue(1)
param workerMaxReplicas int = 10

@description('Days evidence and checkpoint blobs stay immutable (version-level WORM).')
@minValue(1)
@maxValue(146000)
param retentionDays int = 2555

@description('Days deleted blobs and containers can be recovered.')
@minValue(7)
param softDeleteDays int = 30

@description('Name of the intake queue.')
param queueName string = 'intake'

var suffix = uniqueString(resourceGroup().id, environmentName)
var queueRegion = evidenceRegions[0]

// Built-in role definition ids (stable across tenants).
var roles = {
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
}

// -- identity -----------------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-exhibit-${environmentName}'
  location: location
}

// -- monitoring ---------------------------------------------------------------------------

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-exhibit-${environmentName}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-exhibit-${environmentName}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource insightsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: insights
  properties: {
    description: 'Send telemetry to Application Insights with Entra authentication (local auth is off).'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// -- evidence storage, one account per region ---------------------------------------------

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = [for region in evidenceRegions: {
  name: take('stexh${environmentName}${region}${suffix}', 24)
  location: region
  kind: 'StorageV2'
  sku: {
    name: region == 'uksouth' ? 'Standard_ZRS' : 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    immutableStorageWithVersioning: {
      enabled: true
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}]

resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = [for (region, i) in evidenceRegions: {
  parent: storage[i]
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}]

resource evidenceContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for (region, i) in evidenceRegions: {
  parent: blobServices[i]
  name: 'evidence'
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}]

resource checkpointContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for (region, i) in evidenceRegions: {
  parent: blobServices[i]
  name: 'custody-checkpoints'
  properties: {
    publicAccess: 'None'
    immutableStorageWithVersioning: {
      enabled: true
    }
  }
}]

// A default time-based retention for every blob version in both containers: unlocked, so an
// administrator can lengthen it and then lock it (a locked policy cannot be shortened or removed).
resource evidenceRetention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = [for (region, i) in evidenceRegions: {
  parent: evidenceContainers[i]
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: false
  }
}]

resource checkpointRetention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = [for (region, i) in evidenceRegions: {
  parent: checkpointContainers[i]
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: false
  }
}]

resource blobAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (region, i) in evidenceRegions: {
  name: guid(storage[i].id, identity.id, roles.storageBlobDataContributor)
  scope: storage[i]
  properties: {
    description: 'Write evidence and checkpoints create-only, read them back to re-hash, tag them, set retention and legal holds, and get user delegation keys for download links.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

// -- the intake queue (in the first region's account) -------------------------------------

resource queueServices 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage[0]
  name: 'default'
}

resource intakeQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {
  parent: queueServices
  name: queueName
}

resource queueAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(intakeQueue.id, identity.id, roles.storageQueueDataContributor)
  scope: intakeQueue
  properties: {
    description: 'Send, receive, hide and delete intake job messages on the intake queue only, and let KEDA read its length.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// -- Key Vault: the checkpoint signing key and the bot's secret ---------------------------

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('kv-exh-${environmentName}-${suffix}', 24)
  location: location
  properties: {
    tenantId: tenantId
    sku: {
      family: 'A'
      name: 'premium'
    }
    enableRbacAuthorization: true
    enablePurgeProtection: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    publicNetworkAccess: 'Enabled'
  }
}

resource checkpointKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  parent: vault
  name: 'custody-checkpoint'
  properties: {
    kty: 'EC-HSM'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
  }
}

resource keyAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(checkpointKey.id, identity.id, roles.keyVaultCryptoUser)
  scope: checkpointKey
  properties: {
    description: 'Sign custody checkpoints with the checkpoint key and read its public key; scoped to that one key.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultCryptoUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    description: 'Read the bot and Graph credentials the apps reference as Key Vault secrets.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// -- database -----------------------------------------------------------------------------

resource database 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: 'psql-exhibit-${environmentName}-${suffix}'
  location: location
  sku: {
    name: 'Standard_D2ds_v5'
    tier: 'GeneralPurpose'
  }
  properties: {
    version: '16'
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenantId
    }
    storage: {
      storageSizeGB: 128
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 35
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: environmentName == 'prod' ? 'ZoneRedundant' : 'Disabled'
    }
  }
}

resource databaseAdmins 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: database
  name: databaseAdminGroupObjectId
  properties: {
    principalType: 'Group'
    principalName: databaseAdminGroupName
    tenantId: tenantId
  }
}

resource exhibitDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: database
  name: 'exhibit'
}

resource registryPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, identity.id, roles.acrPull)
  properties: {
    description: 'Pull the Exhibit image from the force registry without a registry password.'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.acrPull)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// -- apps ---------------------------------------------------------------------------------

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'cae-exhibit-${environmentName}'
  location: location
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    zoneRedundant: environmentName == 'prod'
  }
}

var regionSettings = [for (region, i) in evidenceRegions: {
  name: 'EXHIBIT_REGION_${toUpper(region)}_ACCOUNT_URL'
  value: storage[i].properties.primaryEndpoints.blob
}]

var commonSettings = concat([
  {
    name: 'EXHIBIT_ENV'
    value: 'production'
  }
  {
    name: 'EXHIBIT_REGIONS'
    value: join(evidenceRegions, ',')
  }
  {
    name: 'EXHIBIT_DEFAULT_REGION'
    value: evidenceRegions[0]
  }
  {
    name: 'EXHIBIT_QUEUE_NAME'
    value: queueName
  }
  {
    name: 'EXHIBIT_QUEUE_ACCOUNT_URL'
    value: storage[0].properties.primaryEndpoints.queue
  }
  {
    name: 'EXHIBIT_DATABASE_URL'
    value: 'postgresql+asyncpg://${identity.name}@${database.properties.fullyQualifiedDomainName}:5432/exhibit?ssl=require'
  }
  {
    name: 'EXHIBIT_DATABASE_ENTRA_AUTH'
    value: 'true'
  }
  {
    name: 'EXHIBIT_CHECKPOINT_KEY_VAULT_KEY'
    value: checkpointKey.properties.keyUri
  }
  {
    name: 'EXHIBIT_BOT_APP_ID'
    value: botAppId
  }
  {
    name: 'EXHIBIT_BOT_TENANT_ID'
    value: tenantId
  }
  {
    name: 'EXHIBIT_BOT_AUTH_TYPE'
    value: 'user_managed_identity'
  }
  {
    name: 'EXHIBIT_PUBLIC_URL'
    value: 'https://${publicHostName}'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identity.properties.clientId
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: insights.properties.ConnectionString
  }
], regionSettings)

resource service 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'ca-exhibit-${environmentName}'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http'
        allowInsecure: false
      }
      registries: [
        {
          server: registryServer
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'exhibit'
          image: image
          args: [
            'serve'
          ]
          env: concat(commonSettings, [
            {
              name: 'EXHIBIT_RUN_WORKER'
              value: 'false'
            }
          ])
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
          probes: [
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8080
              }
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: 8080
              }
            }
          ]
        }
      ]
      scale: {
        minReplicas: serviceMinReplicas
        maxReplicas: max(serviceMinReplicas, 10)
      }
    }
  }
}

resource worker 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'ca-exhibit-worker-${environmentName}'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: environment.id
    configuration: {
      activeRevisionsMode: 'Single'
      registries: [
        {
          server: registryServer
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'exhibit-worker'
          image: image
          args: [
            'worker'
          ]
          env: commonSettings
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: workerMaxReplicas
        rules: [
          {
            name: 'intake-queue'
            custom: {
              type: 'azure-queue'
              identity: identity.id
              metadata: {
                accountName: storage[0].name
                queueName: queueName
                queueLength: '4'
              }
            }
          }
        ]
      }
    }
  }
}

// Migrations run once per release, by this job, before the new revision of the apps: start it
// with `az containerapp job start` (see the README's operations section).
resource migrateJob 'Microsoft.App/jobs@2024-03-01' = {
  name: 'caj-exhibit-migrate-${environmentName}'
  location: location
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: environment.id
    configuration: {
      triggerType: 'Manual'
      replicaTimeout: 900
      replicaRetryLimit: 1
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      registries: [
        {
          server: registryServer
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'exhibit-migrate'
          image: image
          args: [
            'migrate'
          ]
          env: commonSettings
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
        }
      ]
    }
  }
}

// -- the bot ------------------------------------------------------------------------------

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: 'bot-exhibit-${environmentName}'
  location: 'global'
  kind: 'azurebot'
  sku: {
    name: 'S1'
  }
  properties: {
    displayName: 'Exhibit'
    endpoint: 'https://${publicHostName}/api/messages'
    msaAppId: botAppId
    msaAppType: 'SingleTenant'
    msaAppTenantId: tenantId
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource teamsChannel 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
    }
  }
}

// -- keep everything in the UK ------------------------------------------------------------

resource ukOnly 'Microsoft.Authorization/policyAssignments@2024-04-01' = {
  name: 'exhibit-${environmentName}-allowed-locations'
  properties: {
    displayName: 'Exhibit: resources only in the allowed UK regions'
    // Built-in definition "Allowed locations".
    policyDefinitionId: tenantResourceId('Microsoft.Authorization/policyDefinitions', 'e56962a6-4747-49cd-b67b-bf8b01975c4c')
    enforcementMode: 'Default'
    parameters: {
      listOfAllowedLocations: {
        value: allowedLocations
      }
    }
  }
}

output serviceHost string = service.properties.configuration.ingress.fqdn
output identityClientId string = identity.properties.clientId
output storageAccounts array = [for (region, i) in evidenceRegions: {
  region: region
  name: storage[i].name
}]
output checkpointKeyUri string = checkpointKey.properties.keyUri
