// Durable Task Scheduler backend (when durableBackend = 'DurableTaskScheduler'): one scheduler, one task
// hub named like host.json's hubName, and the app's identity as Durable Task Data Contributor on that
// task hub only. The app connects with its managed identity; no key exists for this service.
param name string
param location string
param tags object
param taskHubName string
param principalId string

@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string

@description('Capacity units (Dedicated only, 1-3; 3 gives zone redundancy where the region offers it).')
@minValue(1)
@maxValue(3)
param capacity int

@description('Addresses allowed to reach the scheduler. An empty list denies all traffic.')
param ipAllowlist array

// Built-in "Durable Task Data Contributor": dataActions Microsoft.DurableTask/*. The app both starts and
// queries orchestrations (client) and runs them (worker), so the narrower "Durable Task Worker" role is
// not enough.
var durableTaskDataContributor = '0ad04412-c4d5-4796-b79c-f76d14c8d402'
// Capacity units exist only on Dedicated; Consumption takes no capacity.
var dedicated = skuName == 'Dedicated'

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    ipAllowlist: ipAllowlist
    sku: dedicated ? { name: skuName, capacity: capacity } : { name: skuName }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

resource dataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, principalId, durableTaskDataContributor)
  scope: taskHub
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', durableTaskDataContributor)
  }
}

output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
