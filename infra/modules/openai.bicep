// A new Azure OpenAI account (when the deployment creates one) with the base model deployment the
// agent starts from. Local (key) auth is disabled: the app uses its managed identity.
param name string
param location string
param tags object

// Open models (gpt-oss-20b, ...) are fine-tuned on Foundry resources only (kind AIServices, with
// project management): fine-tune-supported-models.md. A kind OpenAI account serves the OpenAI models.
@allowed([
  'OpenAI'
  'AIServices'
])
param kind string = 'OpenAI'
param baseModel string
param baseModelVersion string
param baseDeploymentName string
param baseDeploymentCapacity int

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' = {
  // checkov:skip=CKV_AZURE_134:The Flex Consumption app reaches the account over its public endpoint (no VNet in this template); access needs an Entra ID token and a role on this account, keys are disabled
  name: name
  location: location
  tags: tags
  kind: kind
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name
    allowProjectManagement: kind == 'AIServices'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    restrictOutboundNetworkAccess: true
    allowedFqdnList: []
  }
}

resource baseDeployment 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: baseDeploymentName
  sku: {
    name: 'GlobalStandard'
    capacity: baseDeploymentCapacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: baseModel
      version: baseModelVersion
    }
  }
}

output name string = account.name
output endpoint string = account.properties.endpoint
